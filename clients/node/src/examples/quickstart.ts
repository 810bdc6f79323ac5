// The Node client in a few lines: create a project, read it, list projects page by page, stream them, read an error.
//
//   npm ci && npm run build
//   ENCORD_GATEWAY_TARGET=127.0.0.1:50051 ENCORD_GATEWAY_TOKEN=egw_... node dist/examples/quickstart.js [TITLE]
//
// Prints one JSON object per step; exits 0 when every step behaved as expected.
import { randomUUID } from 'node:crypto';

import { connect, encord, GatewayError } from '../index';

async function main(): Promise<number> {
  const title = process.argv[2] ?? `node-quickstart-${randomUUID().slice(0, 8)}`;
  const gateway = connect(); // ENCORD_GATEWAY_TARGET, _TOKEN, _ORGANISATION, _TIMEOUT, TLS files
  const projects = gateway.service(encord.gateway.v1.ProjectServiceDefinition);
  try {
    const { projectHash } = await projects.createProject({ title, description: 'made by quickstart.ts' });
    console.log(JSON.stringify({ step: 'create', projectHash }));

    const project = await projects.getProject({ projectHash }, { timeoutMs: 10_000 });
    console.log(JSON.stringify({ step: 'get', title: project.title }));

    const listed: string[] = [];
    for await (const p of gateway.paginate(projects.listProjects, { titleLike: `${title}%`, pageSize: 1 }, 'projects')) {
      listed.push(p.projectHash);
    }
    const streamed: string[] = [];
    for await (const p of projects.streamProjects({ titleLike: `${title}%` })) streamed.push(p.projectHash);
    console.log(JSON.stringify({ step: 'list', listed, streamed }));

    try {
      await projects.getProject({ projectHash: randomUUID() });
    } catch (error) {
      if (!(error instanceof GatewayError)) throw error;
      const { codeName, reason, domain, metadata } = error;
      console.log(JSON.stringify({ step: 'error', code: codeName, reason, domain, metadata }));
      return codeName === 'NOT_FOUND' ? 0 : 1;
    }
    return 1;
  } finally {
    gateway.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof GatewayError ? JSON.stringify({ error: { code: error.codeName, reason: error.reason, domain: error.domain } }) : error);
    process.exitCode = 1;
  },
);
