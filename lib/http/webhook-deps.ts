import { loadConfig } from '../config.ts';
import { type AddressGuard, createAddressGuard } from '../webhooks/address-guard.ts';
import { once, type ReadDeps, readDeps } from './deps.ts';

/** Dependencies of the webhook admin routes: the address guard checks URLs at registration. */
export interface WebhookDeps extends ReadDeps {
  guard: AddressGuard;
  now: () => Date;
  rotationWindowSeconds: number;
}

const webhookConfig = once(() => {
  const config = loadConfig(['webhooks']).webhooks;
  return {
    guard: createAddressGuard(config.WEBHOOK_ALLOWED_HOSTS),
    rotationWindowSeconds: config.WEBHOOK_ROTATION_WINDOW_SECONDS,
  };
});

export const webhookDeps = (): WebhookDeps => ({ ...readDeps(), ...webhookConfig(), now: () => new Date() });
