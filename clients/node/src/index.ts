// Typed Node.js client of the Encord Gateway over @grpc/grpc-js.
//
//   import { connect, encord } from '@encord-gateway/client';
//   const gateway = connect();                                  // ENCORD_GATEWAY_TARGET, ENCORD_GATEWAY_TOKEN, ...
//   const projects = gateway.service(encord.gateway.v1.ProjectServiceDefinition);
//   const { projectHash } = await projects.createProject({ title: 'Cars' });
//
// Messages and service definitions are generated from the gateway's protos at build time (ts-proto);
// this module adds what every call needs: the bearer token and organisation headers, a deadline, a
// request id on writes, retries of reads that honour google.rpc.RetryInfo, pagers over AIP-158 lists,
// and errors as GatewayError carrying the google.rpc.ErrorInfo reason.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';

import * as grpc from '@grpc/grpc-js';

import { BadRequest, ErrorInfo, RetryInfo } from './gen/google/rpc/error_details';
import { Status } from './gen/google/rpc/status';
import { METHODS } from './gen/methods';

export * from './gen/packages';

export const GATEWAY_DOMAIN = 'gateway.encord-gateway.dev';
export const UPSTREAM_DOMAIN = 'api.encord.com';

/** How to reach the gateway; `optionsFromEnv()` reads each from ENCORD_GATEWAY_* variables. */
export interface GatewayOptions {
  /** host:port of the gateway's gRPC listener (ENCORD_GATEWAY_TARGET, default 127.0.0.1:50051). */
  target?: string;
  /** Caller token, sent as `authorization: Bearer <token>` (ENCORD_GATEWAY_TOKEN). */
  token?: string;
  /** Organisation, for callers with grants in several (ENCORD_GATEWAY_ORGANISATION → x-encord-organisation). */
  organisation?: string;
  /** Deadline of a call in milliseconds, retries included (ENCORD_GATEWAY_TIMEOUT in seconds; default 30 s). */
  timeoutMs?: number;
  /** TLS (ENCORD_GATEWAY_TLS=1, ENCORD_GATEWAY_CA_FILE, and for mutual TLS _CLIENT_CERT_FILE and _CLIENT_KEY_FILE). */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  /** Attempts in all for a retryable read (default 4; 1 turns retries off). */
  maxAttempts?: number;
}

export interface CallOptions {
  /** This call's deadline in milliseconds (default: the client's timeoutMs). */
  timeoutMs?: number;
  /** AIP-155 request id of a write, sent as x-request-id (default: a fresh UUID per call). */
  requestId?: string;
  /** Extra metadata. */
  metadata?: Record<string, string>;
}

export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): GatewayOptions {
  const file = (name: string): Buffer | undefined => {
    const value = env[name];
    if (!value) return undefined;
    try {
      return fs.readFileSync(value);
    } catch {
      throw new Error(`${name}=${value}: cannot read the file`);
    }
  };
  const options: GatewayOptions = {
    target: env.ENCORD_GATEWAY_TARGET || '127.0.0.1:50051',
    token: env.ENCORD_GATEWAY_TOKEN || undefined,
    organisation: env.ENCORD_GATEWAY_ORGANISATION || undefined,
  };
  if (env.ENCORD_GATEWAY_TIMEOUT) {
    const seconds = Number(env.ENCORD_GATEWAY_TIMEOUT);
    if (!(seconds > 0 && seconds <= 86_400)) {
      throw new Error(`ENCORD_GATEWAY_TIMEOUT must be a number of seconds (0 < s <= 86400), not ${env.ENCORD_GATEWAY_TIMEOUT}`);
    }
    options.timeoutMs = seconds * 1000;
  }
  const tls = {
    ca: file('ENCORD_GATEWAY_CA_FILE'),
    cert: file('ENCORD_GATEWAY_CLIENT_CERT_FILE'),
    key: file('ENCORD_GATEWAY_CLIENT_KEY_FILE'),
  };
  if (['1', 'true', 'yes', 'on'].includes((env.ENCORD_GATEWAY_TLS ?? '').toLowerCase()) || tls.ca || tls.cert) {
    options.tls = tls;
  }
  return options;
}

/** A failed call: the gRPC status plus the google.rpc details. Branch on `reason`, never on the message. */
export class GatewayError extends Error {
  readonly codeName: string;
  constructor(
    message: string,
    readonly code: grpc.status,
    readonly reason: string,
    /** Who refused the call: GATEWAY_DOMAIN or UPSTREAM_DOMAIN (Encord). */
    readonly domain: string,
    readonly metadata: Record<string, string>,
    /** google.rpc.RetryInfo: how long the server asked the caller to wait, in milliseconds. */
    readonly retryDelayMs: number | undefined,
    /** google.rpc.BadRequest: the fields that were wrong, with why. */
    readonly fieldViolations: { field: string; description: string }[],
    readonly requestId: string | undefined,
  ) {
    super(message);
    this.name = 'GatewayError';
    this.codeName = grpc.status[code] ?? 'UNKNOWN';
  }

  static from(error: grpc.ServiceError, requestId?: string): GatewayError {
    let reason = '';
    let domain = '';
    let metadata: Record<string, string> = {};
    let retryDelayMs: number | undefined;
    let fieldViolations: { field: string; description: string }[] = [];
    let message = error.details ?? error.message;
    const raw = error.metadata?.get('grpc-status-details-bin')[0];
    if (raw instanceof Buffer) {
      const status = Status.decode(raw);
      message = status.message || message;
      for (const detail of status.details) {
        const type = detail.typeUrl.slice(detail.typeUrl.lastIndexOf('/') + 1);
        if (type === 'google.rpc.ErrorInfo') {
          ({ reason, domain, metadata } = ErrorInfo.decode(detail.value));
        } else if (type === 'google.rpc.RetryInfo') {
          const delay = RetryInfo.decode(detail.value).retryDelay;
          retryDelayMs = delay ? Number(delay.seconds) * 1000 + delay.nanos / 1e6 : undefined;
        } else if (type === 'google.rpc.BadRequest') {
          fieldViolations = BadRequest.decode(detail.value).fieldViolations.map(({ field, description }) => ({ field, description }));
        }
      }
    }
    return new GatewayError(message, error.code, reason, domain, metadata, retryDelayMs, fieldViolations, requestId);
  }
}

// The shape of a ts-proto generic service definition, as much as this module needs of it.
interface MessageFns<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
  fromPartial(object: any): T;
}
interface MethodDefinition {
  name: string;
  requestType: MessageFns<any>;
  responseType: MessageFns<any>;
  requestStream: boolean;
  responseStream: boolean;
}
interface ServiceDefinition {
  fullName: string;
  methods: Record<string, MethodDefinition>;
}

type Message<F> = F extends MessageFns<infer T> ? T : never;
export type DeepPartial<T> = T extends string | number | boolean | undefined | Buffer | Uint8Array
  ? T
  : T extends Array<infer U>
    ? Array<DeepPartial<U>>
    : T extends object
      ? { [K in keyof T]?: DeepPartial<T[K]> }
      : T;

/** One typed function per RPC: Promise for unary and client-streaming calls, AsyncIterable for server streams. */
export type ServiceClient<S extends ServiceDefinition> = {
  [K in keyof S['methods']]: S['methods'][K]['responseStream'] extends true
    ? (request?: DeepPartial<Message<S['methods'][K]['requestType']>>, options?: CallOptions) => AsyncIterable<Message<S['methods'][K]['responseType']>>
    : S['methods'][K]['requestStream'] extends true
      ? (
          requests: Iterable<DeepPartial<Message<S['methods'][K]['requestType']>>>,
          options?: CallOptions,
        ) => Promise<Message<S['methods'][K]['responseType']>>
      : (request?: DeepPartial<Message<S['methods'][K]['requestType']>>, options?: CallOptions) => Promise<Message<S['methods'][K]['responseType']>>;
};

const RETRYABLE = new Set([grpc.status.UNAVAILABLE, grpc.status.RESOURCE_EXHAUSTED]);
const INITIAL_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5000;

export class Gateway {
  readonly options: Required<Pick<GatewayOptions, 'target' | 'timeoutMs' | 'maxAttempts'>> & GatewayOptions;
  private readonly client: grpc.Client;

  constructor(options: GatewayOptions = optionsFromEnv()) {
    this.options = { timeoutMs: 30_000, maxAttempts: 4, target: '127.0.0.1:50051', ...options };
    const tls = this.options.tls;
    const credentials = tls
      ? grpc.credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null)
      : grpc.credentials.createInsecure();
    this.client = new grpc.Client(this.options.target, credentials);
  }

  /** Typed functions for every RPC of a generated service definition (e.g. encord.gateway.v1.ProjectServiceDefinition). */
  service<S extends ServiceDefinition>(definition: S): ServiceClient<S> {
    const functions: Record<string, unknown> = {};
    for (const [key, method] of Object.entries(definition.methods)) {
      const path = `/${definition.fullName}/${method.name}`;
      if (method.responseStream) functions[key] = (request?: object, options?: CallOptions) => this.serverStream(path, method, request, options);
      else if (method.requestStream) functions[key] = (requests: Iterable<object>, options?: CallOptions) => this.clientStream(path, method, requests, options);
      else functions[key] = (request?: object, options?: CallOptions) => this.unary(path, method, request, options);
    }
    return functions as ServiceClient<S>;
  }

  /** Every element of a paged list (AIP-158), following next_page_token: `paginate(projects.listProjects, {...}, 'projects')`. */
  async *paginate<
    F extends (request: any, options?: CallOptions) => Promise<{ nextPageToken: string }>,
    K extends keyof Awaited<ReturnType<F>>,
  >(
    list: F,
    request: NonNullable<Parameters<F>[0]>,
    items: K,
    options?: CallOptions,
  ): AsyncIterable<Awaited<ReturnType<F>>[K] extends Array<infer T> ? T : never> {
    let current = { ...request };
    for (;;) {
      const page = (await list(current, options)) as Awaited<ReturnType<F>>;
      yield* page[items] as any;
      if (!page.nextPageToken) return;
      current = { ...current, pageToken: page.nextPageToken };
    }
  }

  close(): void {
    this.client.close();
  }

  private metadata(path: string, options: CallOptions | undefined): { metadata: grpc.Metadata; requestId?: string } {
    const metadata = new grpc.Metadata();
    if (this.options.token) metadata.set('authorization', `Bearer ${this.options.token}`);
    if (this.options.organisation) metadata.set('x-encord-organisation', this.options.organisation);
    const requestId = options?.requestId ?? (METHODS[path]?.read ? undefined : randomUUID());
    if (requestId) metadata.set('x-request-id', requestId);
    for (const [key, value] of Object.entries(options?.metadata ?? {})) metadata.set(key.toLowerCase(), value);
    return { metadata, requestId };
  }

  /** Wait before the next attempt, or undefined when the error goes to the caller (writes are never retried). */
  private retryDelay(path: string, error: GatewayError, attempt: number, deadline: number): number | undefined {
    if (!METHODS[path]?.read || attempt >= this.options.maxAttempts || !RETRYABLE.has(error.code)) return undefined;
    const delay = error.retryDelayMs ?? Math.random() * Math.min(MAX_BACKOFF_MS, INITIAL_BACKOFF_MS * 2 ** (attempt - 1));
    return Date.now() + delay < deadline ? delay : undefined;
  }

  private async unary(path: string, method: MethodDefinition, request: object | undefined, options?: CallOptions): Promise<unknown> {
    const message = method.requestType.fromPartial(request ?? {});
    const { metadata, requestId } = this.metadata(path, options);
    const deadline = Date.now() + (options?.timeoutMs ?? this.options.timeoutMs);
    for (let attempt = 1; ; attempt++) {
      try {
        return await new Promise((resolve, reject) => {
          this.client.makeUnaryRequest(
            path,
            (value: unknown) => Buffer.from(method.requestType.encode(value).finish()),
            (bytes: Buffer) => method.responseType.decode(bytes),
            message,
            metadata,
            { deadline },
            (error, response) => (error ? reject(GatewayError.from(error, requestId)) : resolve(response)),
          );
        });
      } catch (error) {
        const delay = error instanceof GatewayError ? this.retryDelay(path, error, attempt, deadline) : undefined;
        if (delay === undefined) throw error;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  private async *serverStream(path: string, method: MethodDefinition, request: object | undefined, options?: CallOptions): AsyncIterable<unknown> {
    const message = method.requestType.fromPartial(request ?? {});
    const { metadata, requestId } = this.metadata(path, options);
    const deadline = Date.now() + (options?.timeoutMs ?? this.options.timeoutMs);
    for (let attempt = 1; ; attempt++) {
      const call = this.client.makeServerStreamRequest(
        path,
        (value: unknown) => Buffer.from(method.requestType.encode(value).finish()),
        (bytes: Buffer) => method.responseType.decode(bytes),
        message,
        metadata,
        { deadline },
      );
      let received = false;
      try {
        for await (const item of call) {
          received = true;
          yield item;
        }
        return;
      } catch (error) {
        const failure = GatewayError.from(error as grpc.ServiceError, requestId);
        const delay = received ? undefined : this.retryDelay(path, failure, attempt, deadline);
        if (delay === undefined) throw failure;
        await new Promise((resolve) => setTimeout(resolve, delay));
      } finally {
        call.cancel(); // a consumer that stops early must not leave the stream open
      }
    }
  }

  private clientStream(path: string, method: MethodDefinition, requests: Iterable<object>, options?: CallOptions): Promise<unknown> {
    // Sent once: a client stream cannot be replayed, so it is never retried.
    const { metadata, requestId } = this.metadata(path, options);
    const deadline = Date.now() + (options?.timeoutMs ?? this.options.timeoutMs);
    return new Promise((resolve, reject) => {
      const call = this.client.makeClientStreamRequest(
        path,
        (value: unknown) => Buffer.from(method.requestType.encode(value).finish()),
        (bytes: Buffer) => method.responseType.decode(bytes),
        metadata,
        { deadline },
        (error, response) => (error ? reject(GatewayError.from(error, requestId)) : resolve(response)),
      );
      for (const request of requests) call.write(method.requestType.fromPartial(request));
      call.end();
    });
  }
}

/** A Gateway configured from ENCORD_GATEWAY_* variables, with `overrides` on top. */
export function connect(overrides: GatewayOptions = {}): Gateway {
  return new Gateway({ ...optionsFromEnv(), ...overrides });
}
