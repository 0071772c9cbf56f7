# Redis OSS 7 on ElastiCache, node-based, cluster mode disabled: one shard, a
# primary and var.redis_replicas replicas in other AZs, automatic failover.
#
# Not ElastiCache Serverless: a serverless cache is always cluster mode, and
# the job queue (apalis-redis) runs Lua scripts that touch keys in several hash
# slots and keys they do not declare, which cluster mode refuses (CROSSSLOT)
# or, worse, lets run against the wrong node. One shard keeps every key on one
# node. README.md, "Redis: why not Serverless".
#
# TLS in transit is required, at rest the data and snapshots are encrypted with
# the customer-managed key, and every connection authenticates with an AUTH
# token (generated here, handed to the tasks inside REDIS_URL, secrets.tf).
# Only the task security groups reach port 6379 (network.tf).

resource "aws_elasticache_subnet_group" "redis" {
  name        = "${local.prefix}-redis"
  description = "Weelo Redis: the private subnets"
  subnet_ids  = var.private_subnet_ids
}

# cluster-enabled is "no" in the redis7 family's defaults too; stated here so a
# change of family or a copied parameter group cannot turn cluster mode on.
# noeviction: the job queues' keys have no TTL and must never be dropped to make
# room; a full Redis answers writes with an error (which the services report)
# instead of silently losing jobs.
resource "aws_elasticache_parameter_group" "redis" {
  name        = "${local.prefix}-redis7"
  family      = "redis7"
  description = "Weelo Redis 7: cluster mode off, no eviction"

  parameter {
    name  = "cluster-enabled"
    value = "no"
  }

  parameter {
    name  = "maxmemory-policy"
    value = "noeviction"
  }
}

# The AUTH token. ElastiCache allows 16-128 printable characters without @, "
# or /; letters and digits only, since it goes into REDIS_URL. It is in the
# Terraform state (the replication group's auth_token argument has no
# write-only form in every provider version this configuration allows); the
# state bucket is encrypted and private. Rotate with redis_auth_token_version
# (README.md, "Rotation runbook").
resource "random_password" "redis_auth" {
  length  = 64
  special = false

  keepers = {
    version = var.redis_auth_token_version
  }
}

resource "aws_cloudwatch_log_group" "redis" {
  for_each = toset(["slow-log", "engine-log"])

  name              = "/elasticache/${local.prefix}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_elasticache_replication_group" "main" {
  replication_group_id = local.prefix
  description          = "Weelo: geo index, presence, job queues, Socket.IO adapter"

  engine               = "redis"
  engine_version       = var.redis_engine_version
  node_type            = var.redis_node_type
  port                 = 6379
  parameter_group_name = aws_elasticache_parameter_group.redis.name

  # Cluster mode disabled: one node group (shard); the primary plus replicas.
  cluster_mode               = "disabled"
  num_cache_clusters         = 1 + var.redis_replicas
  automatic_failover_enabled = true
  multi_az_enabled           = true

  subnet_group_name  = aws_elasticache_subnet_group.redis.name
  security_group_ids = [aws_security_group.redis.id]

  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.main.arn
  transit_encryption_enabled = true
  transit_encryption_mode    = "required"
  auth_token                 = random_password.redis_auth.result
  # ROTATE keeps the previous token valid next to the new one, so tasks still
  # holding the old REDIS_URL keep working until they are restarted.
  auth_token_update_strategy = "ROTATE"

  snapshot_retention_limit   = 7
  snapshot_window            = "21:30-22:30" # UTC, after the RDS backup window
  maintenance_window         = "sun:23:00-mon:00:00"
  auto_minor_version_upgrade = true
  apply_immediately          = false

  dynamic "log_delivery_configuration" {
    for_each = aws_cloudwatch_log_group.redis
    content {
      destination      = log_delivery_configuration.value.name
      destination_type = "cloudwatch-logs"
      log_format       = "json"
      log_type         = log_delivery_configuration.key
    }
  }
}
