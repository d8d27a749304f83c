#!/bin/sh
# One-shot MinIO init: creates the certificates bucket (idempotent) and keeps it private.
set -eu
bucket="${S3_BUCKET:-certificates-local}"
mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
mc mb --ignore-existing --region "${S3_REGION:-us-east-1}" "local/$bucket"
# Downloads go through presigned URLs only: no anonymous access.
mc anonymous set none "local/$bucket"
echo "bucket $bucket ready"
