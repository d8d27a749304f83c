#!/bin/bash
# LocalStack ready hook: creates the certificates bucket once; safe on every restart.
set -euo pipefail
bucket="${S3_BUCKET:-certificates-local}"
if awslocal s3api head-bucket --bucket "$bucket" >/dev/null 2>&1; then
  echo "bucket $bucket already exists"
else
  awslocal s3 mb "s3://$bucket"
fi
# Same stance as the deployed bucket (serverless.yml): never public, downloads are presigned.
awslocal s3api put-public-access-block --bucket "$bucket" \
  --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
