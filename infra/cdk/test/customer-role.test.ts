// Tests of the construct with aws-cdk-lib/assertions. The trust policy the
// CloudFormation template creates comes from the Go side (rolesetup renders
// it from infra/customer-role.yaml) in ROLECALL_EXPECTED_TRUST_POLICY, with
// the external ID and principal in ROLECALL_EXTERNAL_ID and
// ROLECALL_TRUSTED_PRINCIPAL_ARN: `go test ./infra` runs this suite so.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { App, CfnParameter, Stack } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { RoleCallCustomerRole, REGISTRATION_RESOURCE_TYPE, TRUSTED_PRINCIPAL_PATTERN } from "../lib/customer-role";

const externalId = process.env.ROLECALL_EXTERNAL_ID ?? "rc-EXAMPLEEXAMPLEEXAMPLEEXAMPLE234";
const principal = process.env.ROLECALL_TRUSTED_PRINCIPAL_ARN ?? "arn:aws:iam::111122223333:role/RoleCallVerifier";
const topic = "arn:aws:sns:us-east-1:111122223333:rolecall-prod-registration";
const token = "rcr_" + "A".repeat(43);

function synth(props: Partial<ConstructorParameters<typeof RoleCallCustomerRole>[2]> = {}): Template {
  const stack = new Stack(new App(), "Customer");
  new RoleCallCustomerRole(stack, "RoleCall", { externalId, trustedPrincipalArn: principal, ...props });
  return Template.fromStack(stack);
}

function trustPolicy(t: Template): unknown {
  const roles = Object.values(t.findResources("AWS::IAM::Role"));
  assert.equal(roles.length, 1, "one role");
  return (roles[0] as { Properties: { AssumeRolePolicyDocument: unknown } }).Properties.AssumeRolePolicyDocument;
}

// fromGo is what `go test ./infra` passes in the environment variable name
// (the template's side of a comparison); without it the test is skipped,
// or fails under CI=true.
function fromGo(t: { skip(msg: string): void }, name: string): string | undefined {
  const v = process.env[name];
  if (v === undefined) {
    if (process.env.CI === "true") assert.fail(`${name} is not set; run through go test ./infra`);
    t.skip(`run through go test ./infra for ${name}`);
  }
  return v;
}

test("the trust policy equals the CloudFormation template's", (t) => {
  const expected = fromGo(t, "ROLECALL_EXPECTED_TRUST_POLICY");
  if (expected !== undefined) assert.deepEqual(trustPolicy(synth()), JSON.parse(expected));
});

// infra/customer-role.yaml's name for a role without RoleName:
// <RoleNamePrefix>-<the first group of the stack ID's UUID>.
function generatedName(prefix: string): unknown {
  const uuid = { "Fn::Select": [2, { "Fn::Split": ["/", { Ref: "AWS::StackId" }] }] };
  return { "Fn::Join": ["-", [prefix, { "Fn::Select": [0, { "Fn::Split": ["-", uuid] }] }]] };
}

test("the principal pattern is the template's", (t) => {
  const expected = fromGo(t, "ROLECALL_TRUSTED_PRINCIPAL_PATTERN");
  if (expected !== undefined) assert.equal(TRUSTED_PRINCIPAL_PATTERN, expected);
});

test("the role name is generated per stack unless given", () => {
  synth().hasResourceProperties("AWS::IAM::Role", { RoleName: generatedName("RoleCall") });
  synth({ roleNamePrefix: "Acme" }).hasResourceProperties("AWS::IAM::Role", { RoleName: generatedName("Acme") });
  synth({ roleName: "PartnerAccess" }).hasResourceProperties("AWS::IAM::Role", { RoleName: "PartnerAccess" });
});

// The default managed policy is ViewOnlyAccess in the stack's partition
// (AWS::Partition), so it attaches in aws-cn and aws-us-gov accounts too.
test("the role matches the template's defaults", () => {
  const t = synth();
  t.hasResourceProperties("AWS::IAM::Role", {
    MaxSessionDuration: 3600,
    ManagedPolicyArns: [{ "Fn::Join": ["", ["arn:", { Ref: "AWS::Partition" }, ":iam::aws:policy/job-function/ViewOnlyAccess"]] }],
    Tags: [{ Key: "managed-by", Value: "rolecall-customer-role" }],
  });
  t.resourceCountIs(REGISTRATION_RESOURCE_TYPE, 0);
  t.resourceCountIs("AWS::IAM::RolePolicy", 0);
});

test("the registration resource registers the role it creates", () => {
  const stack = new Stack(new App(), "Customer");
  const tokenParam = new CfnParameter(stack, "RegistrationToken", { type: "String", noEcho: true });
  const c = new RoleCallCustomerRole(stack, "RoleCall", {
    externalId,
    trustedPrincipalArn: principal,
    registration: { topicArn: topic, token: tokenParam.valueAsString },
  });
  assert.ok(c.registration);
  const t = Template.fromStack(stack);
  t.resourceCountIs(REGISTRATION_RESOURCE_TYPE, 1);
  t.hasResourceProperties(REGISTRATION_RESOURCE_TYPE, {
    ServiceToken: topic,
    ServiceTimeout: Match.anyValue(),
    RoleArn: { "Fn::GetAtt": [Match.stringLikeRegexp("^RoleCallRole"), "Arn"] },
    RegistrationToken: { Ref: "RegistrationToken" },
  });
  assert.equal(t.toJSON().Parameters.RegistrationToken.NoEcho, true);
});

test("an inline policy becomes RoleCallPartnerInline", () => {
  const doc = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:ListAllMyBuckets", Resource: "*" }] };
  synth({ inlinePolicy: doc, managedPolicyArns: [] }).hasResourceProperties("AWS::IAM::RolePolicy", {
    PolicyName: "RoleCallPartnerInline",
    PolicyDocument: doc,
  });
  const t = synth({ managedPolicyArns: [] });
  t.hasResourceProperties("AWS::IAM::Role", { ManagedPolicyArns: Match.absent() });
});

test("bad values are refused at synthesis", () => {
  const bad: Array<[string, Partial<ConstructorParameters<typeof RoleCallCustomerRole>[2]>]> = [
    ["externalId", { externalId: "has space" }],
    ["externalId", { externalId: "x" }],
    ["trustedPrincipalArn", { trustedPrincipalArn: "arn:aws:iam::111122223333:user/bob" }],
    ["trustedPrincipalArn", { trustedPrincipalArn: "*" }],
    // The partner account's root would let any of its principals in.
    ["trustedPrincipalArn", { trustedPrincipalArn: "arn:aws:iam::111122223333:root" }],
    ["trustedPrincipalArn", { trustedPrincipalArn: "arn:aws-cn:iam::111122223333:root" }],
    ["roleNamePrefix", { roleNamePrefix: "a".repeat(56) }],
    ["roleName", { roleName: "a/b" }],
    ["registration.topicArn", { registration: { topicArn: "arn:aws:lambda:us-east-1:111122223333:function:f", token } }],
    ["registration.token", { registration: { topicArn: topic, token: "a".repeat(39) } }],
  ];
  for (const [field, props] of bad) {
    assert.throws(() => synth(props), new RegExp(field.replace(".", "\\.")), field);
  }
});
