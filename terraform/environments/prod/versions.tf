terraform {
  required_version = ">= 1.10" # S3 backend locking with use_lockfile
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # Remote state in S3 with native locking (a lock object next to the state; no DynamoDB
  # table). bucket, key and region come from backend.hcl: terraform init -backend-config=backend.hcl
  backend "s3" {
    encrypt      = true
    use_lockfile = true
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = {
      project     = "tracelake"
      environment = "prod"
    }
  }
}
