import { expect, it } from 'vitest';
import { urlHost } from '../../scripts/url-host.ts';

it("npm start's URLs name a host a client can reach, in a form a URL takes", () => {
  expect(urlHost('127.0.0.1')).toBe('127.0.0.1');
  expect(urlHost('192.168.1.20')).toBe('192.168.1.20');
  expect(urlHost('localhost')).toBe('localhost');
  // Wildcards name no machine: loopback in the URLs.
  expect(urlHost('0.0.0.0')).toBe('127.0.0.1');
  expect(urlHost('::')).toBe('[::1]');
  // IPv6 bracketed: `http://::1:3000` is not a URL.
  expect(urlHost('::1')).toBe('[::1]');
  expect(new URL(`http://${urlHost('::1')}:3000/api/v1`).port).toBe('3000');
  expect(new URL(`http://${urlHost('fe80::1')}:3000`).hostname).toBe('[fe80::1]');
});
