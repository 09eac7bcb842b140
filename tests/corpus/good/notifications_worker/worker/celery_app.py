from celery import Celery

from worker.settings import settings

app = Celery("notifications", broker=settings.broker_url, include=["worker.tasks"])
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_time_limit=120,
    task_soft_time_limit=90,
    broker_connection_timeout=5,
    broker_transport_options={"visibility_timeout": 600, "socket_timeout": 5},
)
