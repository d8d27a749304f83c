import { encodeQR } from 'qr';
import { describe, expect, it } from 'vitest';
import { qrCode, qrOutlinePath } from '../../lib/render/assets.ts';

type Matrix = boolean[][];

/** Closed polygons of a path made only of M, h, v and z (what qrOutlinePath writes). */
function polygons(path: string): Array<Array<[number, number]>> {
  const result: Array<Array<[number, number]>> = [];
  let current: Array<[number, number]> = [];
  let x = 0;
  let y = 0;
  for (const [, command, args] of path.matchAll(/([MhvzZ])([^MhvzZ]*)/g)) {
    const numbers = (args ?? '')
      .trim()
      .split(/[\s,]+/)
      .filter(Boolean)
      .map(Number);
    if (command === 'M') {
      [x = 0, y = 0] = numbers;
      current = [[x, y]];
    } else if (command === 'h') {
      x += numbers[0] ?? Number.NaN;
      current.push([x, y]);
    } else if (command === 'v') {
      y += numbers[0] ?? Number.NaN;
      current.push([x, y]);
    } else {
      result.push(current);
    }
  }
  return result;
}

/** Nonzero winding number of a point (never on an edge: module centres) over all polygons. */
function winding(point: [number, number], shapes: Array<Array<[number, number]>>): number {
  let total = 0;
  for (const shape of shapes) {
    for (let i = 0; i < shape.length; i += 1) {
      const [x1, y1] = shape[i] ?? [0, 0];
      const [, y2] = shape[(i + 1) % shape.length] ?? [0, 0];
      // Only h and v moves: an edge is horizontal (never crossed by the ray to the right) or
      // vertical at x1.
      if (y1 === y2) continue;
      const crossesY = (y1 <= point[1] && point[1] < y2) || (y2 <= point[1] && point[1] < y1);
      if (crossesY && x1 > point[0]) total += y2 > y1 ? 1 : -1;
    }
  }
  return total;
}

/** What the path fills, sampled at every module's centre, as the SVG nonzero rule draws it. */
function filled(path: string, size: number): Matrix {
  const shapes = polygons(path);
  return Array.from({ length: size }, (_, y) =>
    Array.from({ length: size }, (_, x) => winding([x + 0.5, y + 0.5], shapes) !== 0),
  );
}

function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

describe('QR code outline path', () => {
  it('fills exactly the dark modules of real codes, plain and signed-size', () => {
    for (const url of [
      'https://certificates.example.org/verify/AB12CD',
      `https://certificates.example.org/verify/AB12CD#${'eyJhbGciOiJFUzI1NiJ9.'.repeat(24)}`,
    ]) {
      const matrix = encodeQR(url, 'raw', { ecc: 'low', border: 4 });
      expect(filled(qrOutlinePath(matrix), matrix.length)).toEqual(matrix);
    }
  });

  it('fills exactly the dark modules of random matrices: holes, islands in holes, corners that touch', () => {
    const random = seeded(7);
    for (let round = 0; round < 40; round += 1) {
      const size = 3 + Math.floor(random() * 18);
      const density = 0.2 + random() * 0.6;
      const matrix = Array.from({ length: size }, () =>
        Array.from({ length: size }, () => random() < density),
      );
      expect(filled(qrOutlinePath(matrix), size)).toEqual(matrix);
    }
  });

  it('a checkerboard (every area touching its neighbours only at corners) and a ring with an island', () => {
    const checker = Array.from({ length: 6 }, (_, y) =>
      Array.from({ length: 6 }, (_, x) => (x + y) % 2 === 0),
    );
    expect(filled(qrOutlinePath(checker), 6)).toEqual(checker);
    const ring = [
      [true, true, true, true, true],
      [true, false, false, false, true],
      [true, false, true, false, true],
      [true, false, false, false, true],
      [true, true, true, true, true],
    ];
    const path = qrOutlinePath(ring);
    expect(filled(path, 5)).toEqual(ring);
    // The outer edge and the island clockwise (right first), the hole between them the other way
    // round (down first): three closed outlines of four corners each.
    expect(path).toBe('M0 0h5v5h-5zM1 1v3h3v-3zM2 2h1v1h-1z');
  });

  it('draws each connected dark area as one outline, not a rectangle per run', () => {
    const square = Array.from({ length: 4 }, () => Array.from({ length: 4 }, () => true));
    expect(qrOutlinePath(square)).toBe('M0 0h4v4h-4z');
    const code = qrCode(`https://certificates.example.org/verify/AB12CD#${'x'.repeat(480)}`);
    const subpaths = code.path.split('M').length - 1;
    const runs = encodeQR(`https://certificates.example.org/verify/AB12CD#${'x'.repeat(480)}`, 'raw', {
      ecc: 'low',
      border: 4,
    }).reduce((count, row) => count + row.filter((dark, x) => dark && !row[x - 1]).length, 0);
    expect(subpaths).toBeLessThan(runs / 2);
  });
});
