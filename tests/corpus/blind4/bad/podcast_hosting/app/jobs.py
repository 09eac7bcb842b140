import os
import subprocess
import urllib.request

import boto3
from redis import Redis
from rq import Queue

from app.db import Episode, Show, get_session

BUCKET = "podcast-media-prod"
s3 = boto3.client(
    "s3",
    aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
    aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
)
redis_conn = Redis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"))
queue = Queue("media", connection=redis_conn)


def transcode_episode(episode_id, fmt):
    session = get_session()
    episode = session.get(Episode, episode_id)
    local_in = f"/tmp/{episode.s3_key.split('/')[-1]}"
    s3.download_file(BUCKET, episode.s3_key, local_in)
    local_out = local_in.rsplit(".", 1)[0] + "." + fmt
    subprocess.run(f"ffmpeg -y -i {local_in} -b:a 128k {local_out}", shell=True)
    s3.upload_file(local_out, BUCKET, episode.s3_key.rsplit(".", 1)[0] + "." + fmt)
    episode.status = "ready"
    session.commit()


def import_from_feed(show_id, audio_url, title):
    session = get_session()
    data = urllib.request.urlopen(audio_url).read()
    key = f"shows/{show_id}/{title}.mp3"
    s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    episode = Episode(show_id=show_id, title=title, s3_key=key)
    session.add(episode)
    session.commit()
    show = session.get(Show, show_id)
    show.episode_count = show.episode_count + 1
    session.commit()
    return episode.id


def enqueue_transcode(episode_id, fmt="mp3"):
    queue.enqueue(transcode_episode, episode_id, fmt)
