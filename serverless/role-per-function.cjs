// One IAM role per function. serverless.yml declares a role per kind of work (ScanRole,
// HttpReadRole, WebhookRole, ...): what that kind may touch, written once. When the template is
// complete, each function gets its own copy of its kind's role, plus a policy to write its own log
// group and no other, and the kind roles leave the template. A role shared by 17 functions let any
// of them write into the others' log groups (the public `health` route into `revokeCertificate`'s,
// whose lines are the audit trail), and one function's credentials were all its neighbours' too.
// test/integration/serverless-package.test.ts checks the packaged template.

/** The inline policy on a function's own log group, named exactly (a GetAtt of the stack's group). */
function writeOwnLogs(logGroupId) {
  return {
    PolicyName: 'write-own-logs',
    PolicyDocument: {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Resource: [{ 'Fn::GetAtt': [logGroupId, 'Arn'] }],
        },
      ],
    },
  };
}

/** Rewrites the compiled template in place: every function on a role of its own. */
function rolePerFunction(template) {
  const resources = template.Resources;
  const kinds = new Set();
  for (const [id, resource] of Object.entries(resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const kind = resource.Properties?.Role?.['Fn::GetAtt']?.[0];
    // The framework's own role (a function with no `role:`) grants logs on every group of the
    // stage and has a fixed name two copies would share: each function names one of serverless.yml's.
    if (
      typeof kind !== 'string' ||
      kind === 'IamRoleLambdaExecution' ||
      resources[kind]?.Type !== 'AWS::IAM::Role'
    )
      throw new Error(
        `${id}: its role must be one of serverless.yml's roles (give the function a \`role:\`)`,
      );
    // The framework names a function's resources after it: <Name>LambdaFunction, <Name>LogGroup.
    const name = id.replace(/LambdaFunction$/, '');
    const logGroup = `${name}LogGroup`;
    if (resources[logGroup]?.Type !== 'AWS::Logs::LogGroup')
      throw new Error(`${id}: no log group ${logGroup}`);
    const own = `${name}IamRole`;
    if (resources[own]) throw new Error(`${id}: a resource is already named ${own}`);
    const role = structuredClone(resources[kind]);
    role.Properties.Policies = [writeOwnLogs(logGroup), ...(role.Properties.Policies ?? [])];
    resources[own] = role;
    resource.Properties.Role = { 'Fn::GetAtt': [own, 'Arn'] };
    if (resource.DependsOn !== undefined)
      resource.DependsOn = [resource.DependsOn]
        .flat()
        .map((dependency) => (dependency === kind ? own : dependency));
    kinds.add(kind);
  }
  for (const kind of kinds) delete resources[kind];
  // Anything else that named a kind role (a policy, an output) would now name nothing.
  const text = JSON.stringify(template);
  for (const kind of kinds)
    if (text.includes(`"${kind}"`)) throw new Error(`${kind} is referenced outside the functions' roles`);
  return template;
}

class RolePerFunction {
  constructor(serverless) {
    this.hooks = {
      'after:aws:package:finalize:mergeCustomProviderResources': () => {
        rolePerFunction(serverless.service.provider.compiledCloudFormationTemplate);
      },
    };
  }
}

module.exports = RolePerFunction;
module.exports.rolePerFunction = rolePerFunction;
