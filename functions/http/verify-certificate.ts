// Placeholder until the handler lands; replaced by its issue's work.
export const handler = async (): Promise<{ statusCode: number; body: string }> => ({
  statusCode: 501,
  body: '{"error":"not_implemented"}',
});
