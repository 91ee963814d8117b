# fastq image: the fastq-asynq wheel (built here from this checkout) with the shop example.
#   docker build -t fastq .      (docker compose up --build runs the whole shop)
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Wheels for fastq and every runtime dependency (with the shop's and the dashboard's
# extras), so the runtime stage needs no compiler and no network.
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[shop,dash]"

FROM python:3.11-slim
RUN useradd --system --home /app --shell /usr/sbin/nologin fastq
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels "fastq-asynq[shop,dash]" && rm -rf /wheels
WORKDIR /app
COPY examples /app/examples
USER fastq
# Your application code goes in /app (mount or COPY it); FASTQ_REDIS_URL says where Redis is.
ENV PYTHONUNBUFFERED=1 PYTHONPATH=/app
STOPSIGNAL SIGTERM
# Healthy while Redis answers this container (each compose service adds its own check).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os, redis; redis.Redis.from_url(os.environ.get('FASTQ_REDIS_URL', 'redis://127.0.0.1:6379/0'), socket_timeout=2).ping()"]
ENTRYPOINT ["fastq-worker"]
