# Security groups: the internet reaches only the load balancer; the load
# balancer reaches only the API; Postgres and Redis accept only the two services.

resource "aws_security_group" "alb" {
  name        = "${local.prefix}-alb"
  description = "Weelo ALB: HTTPS (and HTTP, redirected) from the internet"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "api" {
  name        = "${local.prefix}-api"
  description = "Weelo API tasks: traffic from the ALB only"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "worker" {
  name        = "${local.prefix}-worker"
  description = "Weelo worker tasks: no inbound traffic"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "db" {
  name        = "${local.prefix}-db"
  description = "Weelo PostgreSQL: from the API and worker tasks only"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "redis" {
  name        = "${local.prefix}-redis"
  description = "Weelo Redis: from the API and worker tasks only"
  vpc_id      = var.vpc_id
}

# ---- load balancer ---------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from the internet"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  # checkov:skip=CKV_AWS_260: port 80 only answers a 301 redirect to HTTPS (alb.tf); nothing is served over HTTP.
  security_group_id = aws_security_group.alb.id
  description       = "HTTP from the internet, redirected to HTTPS"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "alb_to_api" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the API tasks"
  ip_protocol                  = "tcp"
  from_port                    = local.api_port
  to_port                      = local.api_port
  referenced_security_group_id = aws_security_group.api.id
}

# ---- API and worker tasks ------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "api_from_alb" {
  security_group_id            = aws_security_group.api.id
  description                  = "From the ALB"
  ip_protocol                  = "tcp"
  from_port                    = local.api_port
  to_port                      = local.api_port
  referenced_security_group_id = aws_security_group.alb.id
}

resource "aws_vpc_security_group_ingress_rule" "api_ops_console" {
  for_each          = toset(var.ops_console_cidrs)
  security_group_id = aws_security_group.api.id
  description       = "Ops console from an operator network"
  ip_protocol       = "tcp"
  from_port         = local.ops_port
  to_port           = local.ops_port
  cidr_ipv4         = each.value
}

locals {
  task_security_groups = {
    api    = aws_security_group.api.id
    worker = aws_security_group.worker.id
  }
}

# HTTPS out: ECR, Secrets Manager, CloudWatch Logs (or their VPC endpoints) and FCM.
resource "aws_vpc_security_group_egress_rule" "tasks_https" {
  for_each = local.task_security_groups

  security_group_id = each.value
  description       = "HTTPS to AWS APIs and FCM"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_db" {
  for_each = local.task_security_groups

  security_group_id            = each.value
  description                  = "To PostgreSQL"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.db.id
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_redis" {
  for_each = local.task_security_groups

  security_group_id            = each.value
  description                  = "To Redis"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = aws_security_group.redis.id
}

# ---- data stores -------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "db_from_tasks" {
  for_each = local.task_security_groups

  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from the ${each.key} tasks"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = each.value
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_tasks" {
  for_each = local.task_security_groups

  security_group_id            = aws_security_group.redis.id
  description                  = "Redis from the ${each.key} tasks"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = each.value
}
