"""Django settings for the document signing service."""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "django-insecure-9x$k2!m@p4#q8w&z7v^r1t*y6u(i0o)p3a5s-d_f+g=h"

DEBUG = True

ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "localhost").split(",")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "signing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "signing.views"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("DB_NAME", "docsign"),
        "USER": os.environ.get("DB_USER", "docsign"),
        "PASSWORD": os.environ.get("DB_PASSWORD", ""),
        "HOST": os.environ.get("DB_HOST", "localhost"),
        "PORT": "5432",
    }
}

AWS_REGION = os.environ.get("AWS_REGION", "eu-west-1")
DOCUMENTS_BUCKET = os.environ.get("DOCUMENTS_BUCKET", "docsign-documents")

ESIGN_API_URL = os.environ.get("ESIGN_API_URL", "https://api.signwell-like.example/v1")
ESIGN_API_KEY = os.environ.get("ESIGN_API_KEY", "")

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0")
CELERY_TASK_SERIALIZER = "pickle"
CELERY_RESULT_SERIALIZER = "pickle"
CELERY_ACCEPT_CONTENT = ["pickle", "json"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
