"""Attachment storage for chat messages."""
import os

UPLOAD_DIR = "/app/uploads"
os.makedirs(UPLOAD_DIR, exist_ok=True)


def save_attachment(channel, filename, data):
    channel_dir = os.path.join(UPLOAD_DIR, channel)
    os.makedirs(channel_dir, exist_ok=True)
    path = os.path.join(channel_dir, filename)
    with open(path, "wb") as f:
        f.write(data)
    return path


def attachment_path(channel, filename):
    return os.path.join(UPLOAD_DIR, channel, filename)
