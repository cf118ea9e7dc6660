# terraform test (offline: the AWS provider is mocked).

mock_provider "aws" {}

variables {
  name                = "tracelake-test"
  region              = "eu-west-1"
  flow_log_bucket_arn = "arn:aws:s3:::acme-tracelake-test-logs"
}

run "plans_private_subnets_and_s3_endpoint" {
  command = plan

  assert {
    condition     = length(aws_subnet.private) == 2 && alltrue([for s in aws_subnet.private : !s.map_public_ip_on_launch])
    error_message = "two private subnets without public IPs"
  }
  assert {
    condition     = [for s in aws_subnet.private : s.availability_zone] == ["eu-west-1a", "eu-west-1b"]
    error_message = "subnets go to the pinned zones <region>a and <region>b"
  }
  assert {
    condition     = aws_vpc_endpoint.s3.vpc_endpoint_type == "Gateway" && aws_vpc_endpoint.s3.service_name == "com.amazonaws.eu-west-1.s3"
    error_message = "S3 must be reached through a gateway endpoint"
  }
}

run "refuses_unknown_region" {
  command = plan
  variables {
    region = "eu-middle-9"
  }
  expect_failures = [var.region]
}

run "refuses_small_cidr" {
  command = plan
  variables {
    cidr_block = "10.0.0.0/24"
  }
  expect_failures = [var.cidr_block]
}
