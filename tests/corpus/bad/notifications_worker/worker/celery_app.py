from celery import Celery

app = Celery(
    "notifications",
    broker="redis://localhost:6379/0",
    backend="redis://localhost:6379/1",
    include=["worker.tasks"],
)
app.conf.task_serializer = "json"
app.conf.result_expires = 3600
