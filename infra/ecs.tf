# The cluster and the two services. Both run the same image; the worker's task
# definition swaps the command. Neither runs migrations at start
# (WEELO_MIGRATE=false): the deploy workflow runs `weelo-api migrate` once, as a
# one-off task, before it rolls either service (README.md, "Migrations").
#
# Terraform owns the task definitions' shape (CPU, memory, roles, environment,
# secrets, logging, health check). The deploy workflow registers new revisions
# from the latest one with only the image changed, so the services ignore
# task_definition here; autoscaling owns desired_count.

resource "aws_ecs_cluster" "main" {
  name = local.prefix

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_cloudwatch_log_group" "service" {
  for_each = toset(["api", "worker"])

  name              = "/ecs/${local.prefix}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

locals {
  image = "${aws_ecr_repository.app.repository_url}:${var.image_tag}"

  # Plain configuration only: anything secret goes in `secrets` below.
  # WEELO_ENV=production makes the services refuse to start without their
  # secrets (no development fallbacks).
  common_environment = [
    for name, value in merge(var.app_environment, {
      WEELO_ENV              = "production"
      WEELO_LOG_FORMAT       = "json"
      WEELO_MIGRATE          = "false"
      WEELO_REDIS_PREFIX     = var.redis_prefix
      BROADCAST_TIMEOUT_SECS = tostring(var.broadcast_timeout_secs)
      # The ALB appends the client's address to X-Forwarded-For: the OTP per-source limit
      # counts that address, never what a client wrote into the header itself.
      WEELO_TRUSTED_PROXY_HOPS = "1"
    }) : { name = name, value = value }
  ]

  # SMS: only the webhook sender (over https) is accepted by the API with
  # WEELO_ENV=production. The API sends the OTP texts, with
  # WEELO_SMS_WEBHOOK_TOKEN (a secret, API only) as its bearer token. The worker
  # sends no SMS and gets none of these. scripts/check-infra starts both
  # binaries' configuration from these declarations (check-config).
  sms_environment = [
    { name = "WEELO_SMS_SENDER", value = "webhook" },
    { name = "WEELO_SMS_WEBHOOK_URL", value = var.sms_webhook_url },
  ]

  secrets = {
    for service, arns in local.service_secrets : service => [
      for key, arn in arns : { name = key, valueFrom = arn }
    ]
  }

  # Fargate gives no writable root file system here; /tmp is task storage.
  tmp_volume = "tmp"

  container_base = {
    image                  = local.image
    essential              = true
    readonlyRootFilesystem = true
    privileged             = false
    user                   = "65532:65532"
    stopTimeout            = 120 # SIGTERM -> SIGKILL: time to finish in-flight requests and jobs
    mountPoints            = [{ sourceVolume = local.tmp_volume, containerPath = "/tmp", readOnly = false }]
    linuxParameters        = { initProcessEnabled = true }
    ulimits                = [{ name = "nofile", softLimit = 65536, hardLimit = 65536 }] # one socket per client
  }
}

resource "aws_ecs_task_definition" "api" {
  family                   = "${local.prefix}-api"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.api_cpu
  memory                   = var.api_memory
  execution_role_arn       = aws_iam_role.execution["api"].arn
  task_role_arn            = aws_iam_role.task["api"].arn
  skip_destroy             = true # revisions are retired by the runbook, not by Terraform

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = local.tmp_volume
  }

  container_definitions = jsonencode([
    merge(local.container_base, {
      name    = local.api_container
      command = ["/usr/local/bin/weelo-api"]
      portMappings = [
        { containerPort = local.api_port, protocol = "tcp", name = "http" },
        { containerPort = local.ops_port, protocol = "tcp", name = "ops" },
      ]
      environment = concat(local.common_environment, local.sms_environment, [
        { name = "WEELO_HTTP_ADDR", value = "0.0.0.0:${local.api_port}" },
        { name = "WEELO_OPS_ADDR", value = "0.0.0.0:${local.ops_port}" },
      ])
      secrets = local.secrets["api"]
      healthCheck = {
        command     = ["CMD", "/usr/local/bin/weelo-healthcheck", "127.0.0.1:${local.api_port}"]
        interval    = 15
        timeout     = 5
        retries     = 3
        startPeriod = 30
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.service["api"].name
          awslogs-region        = var.aws_region
          awslogs-stream-prefix = "api"
          mode                  = "non-blocking"
          max-buffer-size       = "25m"
        }
      }
    })
  ])
}

resource "aws_ecs_task_definition" "worker" {
  family                   = "${local.prefix}-worker"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.worker_cpu
  memory                   = var.worker_memory
  execution_role_arn       = aws_iam_role.execution["worker"].arn
  task_role_arn            = aws_iam_role.task["worker"].arn
  skip_destroy             = true

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = local.tmp_volume
  }

  container_definitions = jsonencode([
    merge(local.container_base, {
      name    = local.worker_container
      command = ["/usr/local/bin/weelo-worker"]
      portMappings = [
        { containerPort = local.worker_port, protocol = "tcp", name = "metrics" },
      ]
      environment = concat(local.common_environment, [
        { name = "WEELO_WORKER_HTTP_ADDR", value = "0.0.0.0:${local.worker_port}" },
        # The health check asks readiness: a stalled job queue (the watchdog names it) or an
        # unreachable PostgreSQL/Redis makes ECS replace the task.
        { name = "WEELO_HEALTHCHECK_PATH", value = "/health/ready" },
      ])
      secrets = local.secrets["worker"]
      healthCheck = {
        command     = ["CMD", "/usr/local/bin/weelo-healthcheck", "127.0.0.1:${local.worker_port}"]
        interval    = 15
        timeout     = 5
        retries     = 3
        startPeriod = 30
      }
      # The worker's JSON log lines carry the Weelo/QueueDepth metric in the
      # CloudWatch embedded metric format; CloudWatch Logs extracts it from
      # this log group, which is what autoscaling.tf scales on. Blocking mode:
      # a dropped line could be a metric sample.
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.service["worker"].name
          awslogs-region        = var.aws_region
          awslogs-stream-prefix = "worker"
        }
      }
    })
  ])
}

resource "aws_ecs_service" "api" {
  name             = "api"
  cluster          = aws_ecs_cluster.main.id
  task_definition  = aws_ecs_task_definition.api.arn
  desired_count    = var.api_min_count
  launch_type      = "FARGATE"
  platform_version = "LATEST"

  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = 60
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"
  enable_execute_command             = false

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.api.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.api.arn
    container_name   = local.api_container
    container_port   = local.api_port
  }

  lifecycle {
    ignore_changes = [task_definition, desired_count]
  }

  depends_on = [aws_lb_listener.https, terraform_data.secrets_written]
}

resource "aws_ecs_service" "worker" {
  name             = "worker"
  cluster          = aws_ecs_cluster.main.id
  task_definition  = aws_ecs_task_definition.worker.arn
  desired_count    = var.worker_min_count
  launch_type      = "FARGATE"
  platform_version = "LATEST"

  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"
  enable_execute_command             = false

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.worker.id]
    assign_public_ip = false
  }

  lifecycle {
    ignore_changes = [task_definition, desired_count]
  }

  depends_on = [terraform_data.secrets_written]
}

# A task cannot start while one of its secrets has no value: the services are
# created only once Terraform has written its secrets (the FCM credentials and
# the SMS webhook token are put in by hand before; README.md, "First deploy").
resource "terraform_data" "secrets_written" {
  depends_on = [
    aws_secretsmanager_secret_version.database_url,
    aws_secretsmanager_secret_version.redis_url,
    aws_secretsmanager_secret_version.jwt,
    aws_secretsmanager_secret_version.jwt_previous,
  ]
}
