# Roles of the ECS tasks. Each service has its own execution role (used by ECS
# to start its tasks): it pulls the image, writes that service's logs and reads
# exactly that service's secrets (secrets.tf), so the SMS gateway token is
# readable by the API's tasks only. The task roles (the application's own AWS
# identity) hold no permission at all: secrets arrive as environment variables
# through the execution role, and the worker's queue-depth metric is published
# through its logs (CloudWatch embedded metric format), not the CloudWatch API.
# Each service has its own task role so a permission one of them needs later is
# not granted to the other.

data "aws_iam_policy_document" "ecs_tasks_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${var.aws_region}:${local.account_id}:*"]
    }
  }
}

locals {
  # The API's keeps the name the single shared execution role had, so task
  # definition revisions registered before the split (rollback targets) still
  # start.
  execution_role_names = {
    api    = "${local.prefix}-ecs-execution"
    worker = "${local.prefix}-worker-ecs-execution"
  }
}

moved {
  from = aws_iam_role.execution
  to   = aws_iam_role.execution["api"]
}

moved {
  from = aws_iam_role_policy.execution
  to   = aws_iam_role_policy.execution["api"]
}

resource "aws_iam_role" "execution" {
  for_each = local.execution_role_names

  name               = each.value
  description        = "ECS starts Weelo ${each.key} tasks with it: image pull, logs, the ${each.key}'s secrets"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
}

data "aws_iam_policy_document" "execution" {
  for_each = local.execution_role_names

  statement {
    sid       = "EcrAuth"
    actions   = ["ecr:GetAuthorizationToken"] # account-wide by design; no resource-level form
    resources = ["*"]
  }

  statement {
    sid = "EcrPull"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = [aws_ecr_repository.app.arn]
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.service[each.key].arn}:*"]
  }

  statement {
    sid       = "AppSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = values(local.service_secrets[each.key])
  }

  statement {
    sid       = "DecryptAppSecrets"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.aws_region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  for_each = local.execution_role_names

  name   = "start-weelo-tasks"
  role   = aws_iam_role.execution[each.key].id
  policy = data.aws_iam_policy_document.execution[each.key].json
}

resource "aws_iam_role" "task" {
  for_each = toset(["api", "worker"])

  name               = "${local.prefix}-${each.key}-task"
  description        = "Weelo ${each.key} application identity (no permissions needed today)"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
}
