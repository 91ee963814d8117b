# fastq worker image (the fastq-asynq distribution, built from this checkout): `docker build -t fastq .`
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --home /app --shell /usr/sbin/nologin fastq
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
WORKDIR /app
USER fastq
# Your application code goes in /app (mount or COPY it); FASTQ_REDIS_URL says where Redis is.
ENV PYTHONUNBUFFERED=1
STOPSIGNAL SIGTERM
ENTRYPOINT ["fastq-worker"]
