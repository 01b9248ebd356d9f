/**
 * Shared AWS SDK client settings: the region from the environment, and for a local endpoint
 * (an emulator on loopback) fixed dummy credentials so the SDK signs without a profile lookup.
 */
export function clientConfig(endpoint?: string) {
  const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1'
  if (!endpoint) return { region }
  const local = /^http:\/\/(127\.|localhost|\[::1\])/.test(endpoint)
  return {
    region, endpoint,
    ...(local && !process.env.AWS_ACCESS_KEY_ID ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
  }
}
