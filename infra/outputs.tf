# What the deploy workflow and operators need. Set the GitHub repository
# variables from these (README.md, "First deploy").

output "github_repository_variables" {
  description = "Values for the repository's Actions variables AWS_REGION, AWS_DEPLOY_ROLE_ARN, ECR_REPOSITORY, ECS_CLUSTER."
  value = {
    AWS_REGION          = var.aws_region
    AWS_DEPLOY_ROLE_ARN = aws_iam_role.deploy.arn
    ECR_REPOSITORY      = aws_ecr_repository.app.name
    ECS_CLUSTER         = aws_ecs_cluster.main.name
  }
}

output "ecr_repository_url" {
  description = "Image repository URL (tags are commit SHAs)."
  value       = aws_ecr_repository.app.repository_url
}

output "ecs_cluster_name" {
  description = "ECS cluster name."
  value       = aws_ecs_cluster.main.name
}

output "ecs_services" {
  description = "ECS service names, for aws ecs update-service and scaling."
  value = {
    api    = aws_ecs_service.api.name
    worker = aws_ecs_service.worker.name
  }
}

output "task_definition_families" {
  description = "Task definition families of the two services."
  value = {
    api    = aws_ecs_task_definition.api.family
    worker = aws_ecs_task_definition.worker.family
  }
}

output "alb_dns_name" {
  description = "Load balancer DNS name: point the API's host name (CNAME or alias) at it."
  value       = aws_lb.api.dns_name
}

output "alb_zone_id" {
  description = "Load balancer hosted zone, for a Route 53 alias record."
  value       = aws_lb.api.zone_id
}

output "deploy_role_arn" {
  description = "Role GitHub Actions assumes (main branch only)."
  value       = aws_iam_role.deploy.arn
}

output "secret_arns" {
  description = "Secrets Manager ARNs of the application's secrets, by environment variable."
  value       = { for key, secret in aws_secretsmanager_secret.app : key => secret.arn }
}

output "db_master_password_secret_arn" {
  description = "Secret holding the PostgreSQL master password (operators only)."
  value       = aws_secretsmanager_secret.db_password.arn
}

output "db_endpoint" {
  description = "PostgreSQL endpoint (private)."
  value       = aws_db_instance.main.endpoint
}

output "redis_endpoint" {
  description = "Redis primary endpoint (private, TLS, AUTH token in the REDIS_URL secret); follows a failover."
  value       = "${aws_elasticache_replication_group.main.primary_endpoint_address}:${aws_elasticache_replication_group.main.port}"
}

output "redis_reader_endpoint" {
  description = "Redis reader endpoint (the replicas; the services do not use it)."
  value       = "${aws_elasticache_replication_group.main.reader_endpoint_address}:${aws_elasticache_replication_group.main.port}"
}

output "task_security_group_ids" {
  description = "Security groups of the API and worker tasks (the migration task uses the API's)."
  value       = local.task_security_groups
}

output "private_subnet_ids" {
  description = "Subnets the tasks run in."
  value       = var.private_subnet_ids
}
