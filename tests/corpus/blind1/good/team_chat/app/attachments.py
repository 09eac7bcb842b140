"""Attachment storage in S3: random object keys, size and type limits, presigned downloads."""
import uuid

import boto3
from botocore.config import Config

ALLOWED_CONTENT_TYPES = {
    "image/png", "image/jpeg", "image/gif", "application/pdf", "text/plain",
}
CHUNK = 1024 * 1024


class AttachmentTooLarge(Exception):
    pass


class UnsupportedType(Exception):
    pass


class AttachmentStore:
    def __init__(self, bucket: str, max_bytes: int):
        self._bucket = bucket
        self._max_bytes = max_bytes
        self._s3 = boto3.client("s3", config=Config(
            connect_timeout=3, read_timeout=20, retries={"max_attempts": 3, "mode": "standard"}))

    def save(self, channel: str, fileobj, content_type: str) -> str:
        """Upload a spooled file; the key never contains user-supplied path components."""
        if content_type not in ALLOWED_CONTENT_TYPES:
            raise UnsupportedType(content_type)
        fileobj.seek(0, 2)
        size = fileobj.tell()
        fileobj.seek(0)
        if size > self._max_bytes:
            raise AttachmentTooLarge(size)
        key = f"attachments/{uuid.uuid5(uuid.NAMESPACE_URL, channel).hex}/{uuid.uuid4().hex}"
        self._s3.upload_fileobj(fileobj, self._bucket, key, ExtraArgs={
            "ContentType": content_type, "ContentDisposition": "attachment",
            "Metadata": {"channel": channel}})
        return key

    def belongs_to(self, key: str, channel: str) -> bool:
        prefix = f"attachments/{uuid.uuid5(uuid.NAMESPACE_URL, channel).hex}/"
        return key.startswith(prefix) and "/" not in key[len(prefix):]

    def download_url(self, key: str) -> str:
        return self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=300)

    def ping(self) -> None:
        self._s3.head_bucket(Bucket=self._bucket)
