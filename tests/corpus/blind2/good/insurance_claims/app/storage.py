import asyncio
import os
import re
import tempfile
import uuid

import aioboto3
from fastapi import UploadFile

from .config import Settings

ALLOWED_TYPES = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}
CHUNK = 1024 * 1024


class UploadRejected(Exception):
    pass


def display_name(filename: str | None) -> str:
    base = os.path.basename(filename or "document")
    return re.sub(r"[^A-Za-z0-9._ -]", "_", base)[:120] or "document"


class DocumentStore:
    def __init__(self, settings: Settings):
        self.settings = settings
        # credentials come from the default chain (IRSA / instance role / env), never from code
        self._s3_session = aioboto3.Session()

    async def _spool(self, upload: UploadFile):
        """Copy the upload to a temp file in chunks, enforcing the size cap without blocking the loop."""
        tmp = tempfile.SpooledTemporaryFile(max_size=CHUNK)
        size = 0
        while chunk := await upload.read(CHUNK):
            size += len(chunk)
            if size > self.settings.max_upload_bytes:
                tmp.close()
                raise UploadRejected(f"file exceeds {self.settings.max_upload_bytes} bytes")
            await asyncio.to_thread(tmp.write, chunk)
        await asyncio.to_thread(tmp.seek, 0)
        return tmp, size

    async def save(self, claim_id: int, upload: UploadFile) -> tuple[str, int]:
        extension = ALLOWED_TYPES.get(upload.content_type or "")
        if extension is None:
            raise UploadRejected("only PDF, JPEG and PNG documents are accepted")
        key = f"claims/{claim_id}/{uuid.uuid4().hex}{extension}"
        tmp, size = await self._spool(upload)
        try:
            if self.settings.storage_backend == "s3":
                async with self._s3_session.client("s3") as s3:
                    await s3.upload_fileobj(
                        tmp, self.settings.s3_bucket, key,
                        ExtraArgs={"ContentType": upload.content_type, "ServerSideEncryption": "aws:kms"},
                    )
                return f"s3://{self.settings.s3_bucket}/{key}", size
            path = os.path.join(self.settings.upload_dir, key)
            await asyncio.to_thread(self._write_local, tmp, path)
            return path, size
        finally:
            tmp.close()

    @staticmethod
    def _write_local(tmp, path: str) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        partial = path + ".part"
        with open(partial, "wb") as out:
            while data := tmp.read(CHUNK):
                out.write(data)
        os.replace(partial, path)
