terraform {
  # 1.9+: validation blocks may refer to other variables (lock retention <= VACUUM retention).
  required_version = ">= 1.9"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.80, < 6.0"
    }
  }
}
