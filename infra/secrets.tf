# The application's secrets, one Secrets Manager secret each, injected into the
# containers by the task definitions' `secrets` block (ecs.tf). Each secret
# names the services that get it; a service's task execution role may read
# exactly its own (iam.tf), so the worker cannot read the SMS gateway token.
#
# Generated values (the database password, the JWT secret) go through
# write-only arguments: they are in Secrets Manager and nowhere else, not in the
# Terraform state, not in a plan, not in a task definition. The FCM service
# account and the SMS gateway token are put in by hand (README.md, "First
# deploy"). Each rotates on its own.

locals {
  app_secrets = {
    DATABASE_URL = {
      description = "PostgreSQL connection URL the services use (written by Terraform; rotate with db_password_version)"
      services    = ["api", "worker"]
    }
    REDIS_URL = {
      description = "ElastiCache primary endpoint URL, rediss://:AUTH-token@host:6379 with protocol=resp3 (written by Terraform; rotate with redis_auth_token_version)"
      services    = ["api", "worker"]
    }
    WEELO_JWT_SECRET = {
      description = "HMAC secret signing the API's JWTs (written by Terraform; rotate with jwt_secret_version)"
      services    = ["api", "worker"]
    }
    WEELO_JWT_PREVIOUS_SECRET = {
      description = "The JWT secret before the last rotation, still accepted (blank: none; set by hand, see infra/README.md)"
      services    = ["api", "worker"]
    }
    WEELO_FCM_CREDENTIALS = {
      description = "FCM HTTP v1 service-account JSON (put in by hand; see infra/README.md)"
      services    = ["api", "worker"]
    }
    # The API sends the OTP SMS (WEELO_SMS_SENDER=webhook, ecs.tf); the worker sends none.
    WEELO_SMS_WEBHOOK_TOKEN = {
      description = "Bearer token the API sends to the SMS webhook (put in by hand; blank: none; see infra/README.md)"
      services    = ["api"]
    }
  }

  # Per service: the secrets its task definition declares and its execution role may read.
  service_secrets = {
    for service in ["api", "worker"] : service => {
      for key, secret in aws_secretsmanager_secret.app : key => secret.arn
      if contains(local.app_secrets[key].services, service)
    }
  }
}

resource "aws_secretsmanager_secret" "app" {
  # checkov:skip=CKV2_AWS_57: no Lambda rotation; each secret rotates through the runbook in infra/README.md (a Terraform version bump or put-secret-value, then a redeploy), because the services read them only at start.
  for_each = local.app_secrets

  name                    = "${local.prefix}/${each.key}"
  description             = each.value.description
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 30
}

# ---- database password -------------------------------------------------------------
# Generated once per db_password_version and stored first in its own secret (read
# by operators only, not by the tasks); RDS and DATABASE_URL are then set from
# the stored value, so an apply that fails half-way is retried with the same
# password rather than a new one.

ephemeral "random_password" "db" {
  length  = 40
  special = false # it goes into a URL
}

resource "aws_secretsmanager_secret" "db_password" {
  # checkov:skip=CKV2_AWS_57: rotated with db_password_version (README.md runbook); a rotation Lambda would change the password under the DATABASE_URL the running tasks hold.
  name                    = "${local.prefix}/db-master-password"
  description             = "PostgreSQL master password (operators only; the services read DATABASE_URL)"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 30
}

resource "aws_secretsmanager_secret_version" "db_password" {
  secret_id                = aws_secretsmanager_secret.db_password.id
  secret_string_wo         = ephemeral.random_password.db.result
  secret_string_wo_version = var.db_password_version
}

ephemeral "aws_secretsmanager_secret_version" "db_password" {
  secret_id  = aws_secretsmanager_secret.db_password.id
  version_id = aws_secretsmanager_secret_version.db_password.version_id
}

resource "aws_secretsmanager_secret_version" "database_url" {
  secret_id                = aws_secretsmanager_secret.app["DATABASE_URL"].id
  secret_string_wo         = "postgres://${var.db_username}:${ephemeral.aws_secretsmanager_secret_version.db_password.secret_string}@${aws_db_instance.main.address}:${aws_db_instance.main.port}/${var.db_name}?sslmode=require"
  secret_string_wo_version = var.db_password_version
}

# ---- Redis -------------------------------------------------------------------------
# The primary endpoint (it follows a failover to the promoted replica), over TLS,
# with the AUTH token as the password of the default user (redis.tf).

resource "aws_secretsmanager_secret_version" "redis_url" {
  secret_id     = aws_secretsmanager_secret.app["REDIS_URL"].id
  secret_string = "rediss://:${random_password.redis_auth.result}@${aws_elasticache_replication_group.main.primary_endpoint_address}:${aws_elasticache_replication_group.main.port}/?protocol=resp3"
}

# ---- JWT ---------------------------------------------------------------------------
# WEELO_JWT_SECRET signs; WEELO_JWT_PREVIOUS_SECRET, when not blank, is still
# accepted for verification, so a routine rotation logs nobody out (runbook).

ephemeral "random_password" "jwt" {
  length  = 64
  special = false
}

resource "aws_secretsmanager_secret_version" "jwt" {
  secret_id                = aws_secretsmanager_secret.app["WEELO_JWT_SECRET"].id
  secret_string_wo         = ephemeral.random_password.jwt.result
  secret_string_wo_version = var.jwt_secret_version
}

# Starts blank (the application reads a blank value as unset; ECS needs a value
# to start a task). Operators set it during a rotation; Terraform leaves it be.
resource "aws_secretsmanager_secret_version" "jwt_previous" {
  secret_id     = aws_secretsmanager_secret.app["WEELO_JWT_PREVIOUS_SECRET"].id
  secret_string = " "

  lifecycle {
    ignore_changes = [secret_string, version_stages]
  }
}
