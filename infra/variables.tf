# ---- where and what ----------------------------------------------------------

variable "aws_region" {
  description = "AWS region for every resource (also the GitHub repository variable AWS_REGION)."
  type        = string
  default     = "ap-south-1"
}

variable "name" {
  description = "Name prefix for every resource."
  type        = string
  default     = "weelo"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name must be 2-21 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "environment" {
  description = "Environment name, used in resource names and tags (e.g. production, staging)."
  type        = string
  default     = "production"
}

variable "github_repository" {
  description = "GitHub repository (owner/name) whose main branch may assume the deploy role."
  type        = string
  default     = "weelo/weelo-backend"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must look like owner/name."
  }
}

variable "github_oidc_provider_arn" {
  description = "ARN of an existing token.actions.githubusercontent.com OIDC provider in this account (an account holds at most one). Null creates it."
  type        = string
  default     = null
}

# ---- network (an existing VPC) -------------------------------------------------

variable "vpc_id" {
  description = "VPC to run in."
  type        = string
}

variable "public_subnet_ids" {
  description = "Public subnets (at least two AZs) for the load balancer."
  type        = list(string)

  validation {
    condition     = length(var.public_subnet_ids) >= 2
    error_message = "The load balancer needs subnets in at least two availability zones."
  }
}

variable "private_subnet_ids" {
  description = "Private subnets (at least two AZs) for the tasks, RDS and ElastiCache. They need a route to ECR, Secrets Manager, CloudWatch Logs and FCM (NAT gateway or VPC endpoints plus NAT for FCM)."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 2
    error_message = "Multi-AZ RDS and the services need subnets in at least two availability zones."
  }
}

variable "certificate_arn" {
  description = "ACM certificate ARN for the HTTPS listener (the API's public host name)."
  type        = string
}

variable "alb_ssl_policy" {
  description = "TLS policy of the HTTPS listener."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "alb_idle_timeout" {
  description = "Seconds the load balancer keeps an idle connection open. Socket.IO pings every 25 s, so WebSockets stay up; the margin covers slow mobile networks."
  type        = number
  default     = 300
}

variable "waf_rate_limit" {
  description = "Requests per 5 minutes from one IP before the WAF blocks it."
  type        = number
  default     = 3000
}

# ---- image and services ----------------------------------------------------------

variable "image_tag" {
  description = "Image tag (a commit SHA) of the task definition revisions Terraform registers. The deploy workflow registers newer revisions from these with its own tag; see README.md."
  type        = string
}

variable "api_cpu" {
  description = "API task CPU units (1024 = 1 vCPU)."
  type        = number
  default     = 1024
}

variable "api_memory" {
  description = "API task memory, MiB."
  type        = number
  default     = 2048
}

variable "api_min_count" {
  description = "Fewest API tasks (autoscaling floor; also the initial desired count)."
  type        = number
  default     = 2
}

variable "api_max_count" {
  description = "Most API tasks (autoscaling ceiling)."
  type        = number
  default     = 10
}

variable "api_cpu_target" {
  description = "Average CPU utilisation (%) the API's target tracking aims at."
  type        = number
  default     = 60
}

variable "api_requests_per_target" {
  description = "ALB requests per minute per API task that the request-count target tracking aims at."
  type        = number
  default     = 1000
}

variable "worker_cpu" {
  description = "Worker task CPU units (1024 = 1 vCPU)."
  type        = number
  default     = 512
}

variable "worker_memory" {
  description = "Worker task memory, MiB."
  type        = number
  default     = 1024
}

variable "worker_min_count" {
  description = "Fewest worker tasks (autoscaling floor; also the initial desired count)."
  type        = number
  default     = 1
}

variable "worker_max_count" {
  description = "Most worker tasks (autoscaling ceiling)."
  type        = number
  default     = 6
}

variable "worker_scale_out_queue_depth" {
  description = "Queue depth (Weelo/QueueDepth, Service=worker) at or above which the worker scales out by one task; twice this adds two."
  type        = number
  default     = 200
}

variable "worker_scale_in_queue_depth" {
  description = "Queue depth at or below which, for 10 minutes, the worker scales in by one task."
  type        = number
  default     = 20
}

variable "redis_prefix" {
  description = "WEELO_REDIS_PREFIX: namespace of every Redis key."
  type        = string
  default     = "weelo"
}

variable "broadcast_timeout_secs" {
  description = "BROADCAST_TIMEOUT_SECS: how long a broadcast stays open."
  type        = number
  default     = 7200
}

variable "sms_webhook_url" {
  description = "WEELO_SMS_WEBHOOK_URL: https endpoint the API POSTs each OTP SMS to as JSON {to, code, text} (an SMS gateway, or an adapter in front of one). Plain configuration: no credentials in it; the bearer token is the WEELO_SMS_WEBHOOK_TOKEN secret (secrets.tf)."
  type        = string

  validation {
    condition     = can(regex("^https://[^/?#@[:space:]]+([/?][^[:space:]]*)?$", var.sms_webhook_url))
    error_message = "sms_webhook_url must be an https:// URL without user:password@ (the token goes in the WEELO_SMS_WEBHOOK_TOKEN secret)."
  }
}

variable "ops_console_cidrs" {
  description = "CIDR blocks (your VPN or office, inside or peered with the VPC) allowed to reach the ops console on the API tasks' port 8081. Empty: nobody can (the console is never behind the public load balancer)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.ops_console_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "ops_console_cidrs must be CIDR blocks, and never 0.0.0.0/0: the console is for operators only."
  }
}

variable "app_environment" {
  description = "Further plain (non-secret) environment variables for both services, e.g. WEELO_DB_MAX_CONNECTIONS or WEELO_OTP_TTL_SECS. Never a secret: those belong in Secrets Manager (secrets.tf)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for name in keys(var.app_environment) : !can(regex("SECRET|PASSWORD|CREDENTIAL|_TOKEN$|_KEY$|^DATABASE_URL$|^REDIS_URL$", name))])
    error_message = "app_environment is for plain configuration; secrets go through Secrets Manager (secrets.tf)."
  }

  validation {
    condition     = alltrue([for name in keys(var.app_environment) : !contains(["WEELO_SMS_SENDER", "WEELO_SMS_WEBHOOK_URL", "WEELO_HTTP_ADDR", "WEELO_WORKER_HTTP_ADDR", "WEELO_OPS_ADDR"], name)])
    error_message = "WEELO_SMS_SENDER, WEELO_SMS_WEBHOOK_URL and the listen addresses are set by ecs.tf (the URL through sms_webhook_url), not through app_environment."
  }
}

variable "log_retention_days" {
  description = "Retention of the CloudWatch log groups."
  type        = number
  default     = 365
}

# ---- data stores -------------------------------------------------------------------

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.m7g.large"
}

variable "db_engine_version" {
  description = "PostgreSQL major version (minor versions upgrade automatically in the maintenance window)."
  type        = string
  default     = "17"
}

variable "db_allocated_storage" {
  description = "Initial gp3 storage, GiB."
  type        = number
  default     = 50
}

variable "db_max_allocated_storage" {
  description = "Storage autoscaling ceiling, GiB."
  type        = number
  default     = 500
}

variable "db_name" {
  description = "Database name."
  type        = string
  default     = "weelo"
}

variable "db_username" {
  description = "Master user name; the application connects as this user (it owns the schema and runs the migrations)."
  type        = string
  default     = "weelo"
}

variable "redis_node_type" {
  description = "ElastiCache node type of the Redis primary and each replica (each holds the whole data set)."
  type        = string
  default     = "cache.m7g.large"
}

variable "redis_replicas" {
  description = "Redis replicas beside the primary, each in another AZ where the subnets allow (automatic failover needs at least one)."
  type        = number
  default     = 1

  validation {
    condition     = var.redis_replicas >= 1 && var.redis_replicas <= 5
    error_message = "redis_replicas must be 1-5: Multi-AZ automatic failover needs a replica, and a shard holds at most 5."
  }
}

variable "redis_engine_version" {
  description = "Redis OSS engine version (7.x: the parameter group is of the redis7 family; transit_encryption_mode needs 7.0.5 or later)."
  type        = string
  default     = "7.1"

  validation {
    condition     = can(regex("^7\\.", var.redis_engine_version))
    error_message = "redis_engine_version must be a 7.x version (the parameter group is of the redis7 family)."
  }
}

# ---- secret rotation (see README.md, "Rotation runbook") -----------------------------

variable "db_password_version" {
  description = "Bump to generate a new database password: Terraform writes it to RDS and to the DATABASE_URL secret in the same apply (write-only, never in state)."
  type        = number
  default     = 1
}

variable "jwt_secret_version" {
  description = "Bump to generate a new WEELO_JWT_SECRET (write-only, never in state). Every issued token stops verifying once the services restart."
  type        = number
  default     = 1
}

variable "redis_auth_token_version" {
  description = "Bump to generate a new Redis AUTH token: Terraform sets it on the replication group (the previous one stays valid, ROTATE) and rewrites REDIS_URL in the same apply."
  type        = number
  default     = 1
}
