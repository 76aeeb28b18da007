// The RoleCall customer role as an AWS CDK construct, for customers who
// deploy with the CDK: the same role and trust policy as
// infra/customer-role.yaml (the partner's principal may assume it only with
// the tenant's external ID), and, when a registration topic and token are
// given, the Custom::RoleCallRegistration resource that registers the role
// with the partner by itself. It uses the L1 resources so the synthesized
// trust policy is exactly the template's (a test compares them).
import { Aws, CustomResource, Duration, Fn, Token } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import { Construct } from "constructs";

/** The registration resource's type, as in infra/customer-role.yaml. */
export const REGISTRATION_RESOURCE_TYPE = "Custom::RoleCallRegistration";

/**
 * The start of the role's name when no roleName is given, as in
 * infra/customer-role.yaml: the role is named <prefix>-<8 characters of the
 * stack's ID>, so no two customers share one guessable name and two stacks
 * in one account do not collide.
 */
export const DEFAULT_ROLE_NAME_PREFIX = "RoleCall";

/**
 * What trustedPrincipalArn must match: the partner access role, never the
 * partner account's root (that would let every principal of the partner
 * account assume the role, past the access role's guards). It is
 * infra/customer-role.yaml's AllowedPattern; give it to a CfnParameter
 * (allowedPattern) when the ARN is a parameter, which the construct cannot
 * check at synthesis.
 */
export const TRUSTED_PRINCIPAL_PATTERN = "arn:aws[a-z-]*:iam::\\d{12}:role/[\\w+=,.@/-]+";

/**
 * The managed policy infra/customer-role.yaml attaches by default, in the
 * stack's partition (AWS::Partition), so a stack in an aws-cn or
 * aws-us-gov account attaches its own partition's policy.
 */
export const DEFAULT_MANAGED_POLICY_ARNS = [`arn:${Aws.PARTITION}:iam::aws:policy/job-function/ViewOnlyAccess`];

/** Registers the role with the partner (no copy-paste). */
export interface RoleCallRegistration {
  /** The partner's registration SNS topic (the quick-create link's RegistrationTopicArn). */
  readonly topicArn: string;
  /**
   * The tenant's registration token (rcr_...). It is a secret: pass a
   * CfnParameter with noEcho (its valueAsString), not a literal.
   */
  readonly token: string;
}

export interface RoleCallCustomerRoleProps {
  /** The external ID the partner issued to your organisation. */
  readonly externalId: string;
  /** The partner principal allowed to assume the role. */
  readonly trustedPrincipalArn: string;
  /** Default: <roleNamePrefix>-<8 characters of the stack's ID>. */
  readonly roleName?: string;
  /** The start of the generated name when roleName is not given; default RoleCall. */
  readonly roleNamePrefix?: string;
  /** Default AWS's read-only ViewOnlyAccess, in the stack's partition; [] for none. */
  readonly managedPolicyArns?: string[];
  /** An optional inline permissions policy document (JSON). */
  readonly inlinePolicy?: Record<string, unknown>;
  /** With it, the stack registers the role with the partner by itself. */
  readonly registration?: RoleCallRegistration;
}

const EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/;
const PRINCIPAL = new RegExp(`^(?:${TRUSTED_PRINCIPAL_PATTERN})$`);
const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;
const ROLE_NAME_PREFIX = /^[\w+=,.@-]{1,55}$/;
const TOPIC = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/;
const REG_TOKEN = /^rcr_[A-Za-z0-9_-]{43}$/;

function check(name: string, value: string, re: RegExp, what: string): void {
  if (!Token.isUnresolved(value) && !re.test(value)) {
    throw new Error(`RoleCallCustomerRole: ${name} ${JSON.stringify(value)} is not ${what}`);
  }
}

/** The RoleCall customer role. */
export class RoleCallCustomerRole extends Construct {
  /** The role (L1), for attaching more policies. */
  public readonly role: iam.CfnRole;
  /** The role's ARN (what the form would otherwise be pasted). */
  public readonly roleArn: string;
  /** The registration resource, when registration was given. */
  public readonly registration?: CustomResource;

  constructor(scope: Construct, id: string, props: RoleCallCustomerRoleProps) {
    super(scope, id);
    check("externalId", props.externalId, EXTERNAL_ID, "2-1224 characters of letters, digits and + = , . @ : / - _");
    check("trustedPrincipalArn", props.trustedPrincipalArn, PRINCIPAL, "arn:<partition>:iam::<account>:role/<name> (the partner access role)");
    let roleName: string;
    if (props.roleName !== undefined) {
      check("roleName", props.roleName, ROLE_NAME, "1-64 characters of letters, digits and + = , . @ - _");
      roleName = props.roleName;
    } else {
      const prefix = props.roleNamePrefix ?? DEFAULT_ROLE_NAME_PREFIX;
      check("roleNamePrefix", prefix, ROLE_NAME_PREFIX, "1-55 characters of letters, digits and + = , . @ - _");
      // The first group of the stack ID's UUID (arn:…:stack/<name>/<uuid>).
      const stackPart = Fn.select(0, Fn.split("-", Fn.select(2, Fn.split("/", Aws.STACK_ID))));
      roleName = Fn.join("-", [prefix, stackPart]);
    }

    const managed = props.managedPolicyArns ?? DEFAULT_MANAGED_POLICY_ARNS;
    this.role = new iam.CfnRole(this, "Role", {
      roleName,
      description: "Assumed by the partner through RoleCall, only with your external ID.",
      maxSessionDuration: 3600,
      assumeRolePolicyDocument: {
        Version: "2012-10-17",
        Statement: [
          {
            Sid: "TrustPartnerWithExternalId",
            Effect: "Allow",
            Principal: { AWS: props.trustedPrincipalArn },
            Action: "sts:AssumeRole",
            Condition: { StringEquals: { "sts:ExternalId": props.externalId } },
          },
        ],
      },
      managedPolicyArns: managed.length > 0 ? managed : undefined,
      tags: [{ key: "managed-by", value: "rolecall-customer-role" }],
    });
    this.roleArn = this.role.attrArn;

    if (props.inlinePolicy !== undefined) {
      new iam.CfnRolePolicy(this, "InlinePermissions", {
        roleName: this.role.ref,
        policyName: "RoleCallPartnerInline",
        policyDocument: props.inlinePolicy,
      });
    }

    if (props.registration !== undefined) {
      check("registration.topicArn", props.registration.topicArn, TOPIC, "an SNS topic ARN");
      check("registration.token", props.registration.token, REG_TOKEN, "a registration token (rcr_...)");
      this.registration = new CustomResource(this, "Registration", {
        serviceToken: props.registration.topicArn,
        resourceType: REGISTRATION_RESOURCE_TYPE,
        serviceTimeout: Duration.seconds(900),
        properties: { RoleArn: this.roleArn, RegistrationToken: props.registration.token },
      });
    }
  }
}
