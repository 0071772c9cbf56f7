# ElastiCache Serverless for Redis OSS 7: TLS is always on for serverless caches;
# only the task security groups reach it. RESP3 (REDIS_URL's protocol=resp3) is
# what the Socket.IO Redis adapter needs.

resource "aws_elasticache_serverless_cache" "main" {
  name                 = local.prefix
  description          = "Weelo: geo index, presence, job queues, Socket.IO adapter"
  engine               = "redis"
  major_engine_version = "7"
  kms_key_id           = aws_kms_key.main.arn
  subnet_ids           = var.private_subnet_ids
  security_group_ids   = [aws_security_group.redis.id]

  daily_snapshot_time      = "21:30"
  snapshot_retention_limit = 7

  cache_usage_limits {
    data_storage {
      maximum = var.redis_max_data_gb
      unit    = "GB"
    }
    ecpu_per_second {
      maximum = var.redis_max_ecpu_per_second
    }
  }
}
