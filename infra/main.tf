# Shared names and look-ups. Each other file owns one part of the system:
# kms.tf (encryption key), network.tf (security groups), ecr.tf, secrets.tf,
# rds.tf, redis.tf, alb.tf (+ WAF, access logs), ecs.tf (cluster, task
# definitions, services), autoscaling.tf, iam.tf (task roles), github_oidc.tf.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  prefix     = "${var.name}-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # Container names; the deploy workflow renders images into these.
  api_container    = "api"
  worker_container = "worker"

  api_port    = 8080
  worker_port = 9090
  # The ops console (api/src/console.rs): a second listener of the API task, never behind the ALB.
  ops_port = 8081
}
