/** The API Gateway (HTTP API, payload 2.0) response every route returns. */
export interface HttpResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

const JSON_TYPE = 'application/json; charset=utf-8';

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return {
    statusCode,
    // Responses carry personal data: never cached by shared caches unless a route says so.
    headers: { 'Content-Type': JSON_TYPE, 'Cache-Control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}

export function ok(body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return json(200, body, headers);
}
