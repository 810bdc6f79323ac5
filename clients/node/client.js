#!/usr/bin/env node
// Calling the Encord Gateway from Node.js: CreateProject, GetProject twice (x-cache miss, then hit),
// and an unknown project's NOT_FOUND with its google.rpc.ErrorInfo. Prints one JSON object per line.
//
//   npm install --no-audit --no-fund
//   ENCORD_GATEWAY_TOKEN=egw_... node client.js --target 127.0.0.1:50051
//
// The contract is compiled from the repository's protos/ by protoc (grpcio-tools' `python -m
// grpc_tools.protoc`, with googleapis-common-protos' google/api and google/rpc protos and the
// well-known types on its include path) into a descriptor set, which proto-loader and protobufjs
// load. (protobufjs 7 cannot parse the protos' text itself: it rejects lists of message literals in
// custom options, protobuf.js issue #1878.) A deployed service ships that descriptor set instead:
// `--descriptor-set FILE` (see clients/README.md for the protoc command).
'use strict';

const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');
const descriptor = require('protobufjs/ext/descriptor');

const DEADLINE_MS = 10_000; // always set one: the gateway bounds its Encord calls, retries included, by it
const REPO = path.resolve(__dirname, '..', '..');

// protoc with the include folders tools/genproto.py uses: our protos, googleapis-common-protos'
// root (google/api, google/rpc) and grpc_tools/_proto (google/protobuf).
const COMPILE = `
import os, sys, google.api, grpc_tools
from grpc_tools import protoc
protos, out = sys.argv[1], sys.argv[2]
googleapis = os.path.dirname(os.path.dirname(next(iter(google.api.__path__))))
well_known = os.path.join(next(iter(grpc_tools.__path__)), "_proto")
sys.exit(protoc.main(["protoc", "-I" + protos, "-I" + googleapis, "-I" + well_known, "--include_imports",
                      "--descriptor_set_out=" + out, "encord/gateway/v1/projects.proto",
                      "google/rpc/status.proto", "google/rpc/error_details.proto"]))
`;

function compileProtos(protos) {
  const venvPython = path.join(REPO, '.venv', 'bin', 'python');
  const python = process.env.PYTHON || (fs.existsSync(venvPython) ? venvPython : 'python3');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'encord-gateway-'));
  try {
    const out = path.join(dir, 'gateway.binpb');
    try {
      execFileSync(python, ['-c', COMPILE, protos, out], { stdio: ['ignore', 'ignore', 'inherit'] });
    } catch {
      throw new Error(
        `could not compile ${protos} with ${python}: set PYTHON to an interpreter that has grpcio-tools and ` +
          'googleapis-common-protos (the gateway\'s .venv/bin/python does), or pass --descriptor-set',
      );
    }
    return fs.readFileSync(out);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// google.rpc.Status travels in the `grpc-status-details-bin` trailer; its details are Anys.
function errorDetails(error, rpcTypes) {
  const out = { code: grpc.status[error.code], message: error.details };
  const raw = error.metadata && error.metadata.get('grpc-status-details-bin')[0];
  if (!raw) return out;
  const status = rpcTypes.Status.decode(raw);
  for (const any of status.details) {
    const typeUrl = any.type_url ?? any.typeUrl; // protobufjs keeps the proto's field names here
    const typeName = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
    if (typeName === 'google.rpc.ErrorInfo') {
      const info = rpcTypes.ErrorInfo.decode(any.value);
      // A map field; protobufjs types built from a descriptor set see it as its repeated entries.
      const entries = Array.isArray(info.metadata) ? info.metadata.map((e) => [e.key, e.value]) : Object.entries(info.metadata);
      Object.assign(out, { reason: info.reason, domain: info.domain, metadata: Object.fromEntries(entries) });
    } else if (typeName === 'google.rpc.RetryInfo') {
      const retry = rpcTypes.RetryInfo.decode(any.value);
      out.retry_delay_seconds = Number(retry.retry_delay?.seconds ?? 0) + (retry.retry_delay?.nanos ?? 0) / 1e9;
    }
  }
  return out;
}

function unary(client, method, request, metadata) {
  // Resolves with the response and the initial metadata (where the gateway puts x-cache).
  return new Promise((resolve, reject) => {
    let headers = new grpc.Metadata();
    const call = client[method](request, metadata, { deadline: Date.now() + DEADLINE_MS }, (error, response) => {
      if (error) reject(error);
      else resolve({ response, headers });
    });
    call.on('metadata', (received) => {
      headers = received;
    });
  });
}

async function main() {
  const { values } = parseArgs({
    options: {
      target: { type: 'string', default: process.env.ENCORD_GATEWAY_TARGET || '127.0.0.1:50051' },
      token: { type: 'string', default: process.env.ENCORD_GATEWAY_TOKEN || '' },
      title: { type: 'string', default: `node-client-${crypto.randomUUID().slice(0, 8)}` },
      protos: { type: 'string', default: path.join(REPO, 'protos') },
      'descriptor-set': { type: 'string', default: process.env.ENCORD_GATEWAY_DESCRIPTOR_SET || '' },
    },
  });
  if (!values.token) {
    console.error('no token: set ENCORD_GATEWAY_TOKEN or pass --token');
    return 2;
  }

  // A descriptor set holding encord/gateway/v1/projects.proto and google/rpc's Status and ErrorInfo.
  const descriptorSet = values['descriptor-set'] ? fs.readFileSync(values['descriptor-set']) : compileProtos(values.protos);
  const definition = protoLoader.loadFileDescriptorSetFromBuffer(descriptorSet, {
    keepCase: true, // field names as in the proto (project_hash), like the REST API's JSON
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  const { ProjectService } = grpc.loadPackageDefinition(definition).encord.gateway.v1;
  const root = protobuf.Root.fromDescriptor(descriptor.FileDescriptorSet.decode(descriptorSet));
  const rpcTypes = {
    Status: root.lookupType('google.rpc.Status'),
    ErrorInfo: root.lookupType('google.rpc.ErrorInfo'),
    RetryInfo: root.lookupType('google.rpc.RetryInfo'),
  };

  // TLS: grpc.credentials.createSsl(caPem) (plus key and certificate under mutual TLS).
  const client = new ProjectService(values.target, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${values.token}`);

  try {
    const created = await unary(client, 'CreateProject', { title: values.title, description: 'made by client.js' }, metadata);
    console.log(JSON.stringify({ call: 'CreateProject', response: created.response }));
    const projectHash = created.response.project_hash;
    for (let i = 0; i < 2; i++) {
      const got = await unary(client, 'GetProject', { project_hash: projectHash }, metadata);
      const cache = got.headers.get('x-cache')[0] || null;
      const { project_hash, title, description } = got.response;
      console.log(JSON.stringify({ call: 'GetProject', x_cache: cache, response: { project_hash, title, description } }));
    }
  } catch (error) {
    console.error(JSON.stringify({ error: errorDetails(error, rpcTypes) }));
    client.close();
    return 1;
  }

  try {
    await unary(client, 'GetProject', { project_hash: crypto.randomUUID() }, metadata);
    console.error(JSON.stringify({ error: 'an unknown project was found' }));
    return 1;
  } catch (error) {
    console.log(JSON.stringify({ call: 'GetProject', error: errorDetails(error, rpcTypes) }));
    return error.code === grpc.status.NOT_FOUND ? 0 : 1;
  } finally {
    client.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  },
);
