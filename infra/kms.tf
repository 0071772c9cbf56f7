# One customer-managed key encrypts everything at rest that holds data or
# secrets: Secrets Manager, RDS storage and Performance Insights, ElastiCache,
# ECR images and the CloudWatch log groups.

data "aws_iam_policy_document" "kms" {
  # In a key policy, Resource "*" means this key and nothing else.
  # checkov:skip=CKV_AWS_109: key policy; "*" is this key, administered by IAM principals of this account only.
  # checkov:skip=CKV_AWS_111: key policy; "*" is this key, and only this account and CloudWatch Logs (scoped to this account's log groups) are principals.
  # checkov:skip=CKV_AWS_356: key policy; the resource of a key policy statement can only be "*" (this key).
  # Key administration and use stay with IAM in this account (the AWS default);
  # services use the key through grants made on behalf of IAM principals.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # CloudWatch Logs encrypts the log groups of this account with the key.
  statement {
    sid = "CloudWatchLogsUse"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${var.aws_region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.aws_region}:${local.account_id}:log-group:*"]
    }
  }
}

resource "aws_kms_key" "main" {
  description             = "${local.prefix}: secrets, RDS, ElastiCache, ECR and logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${local.prefix}"
  target_key_id = aws_kms_key.main.key_id
}
