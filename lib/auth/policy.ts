import { ForbiddenError } from '../errors.ts';
import type { Principal } from './principal.ts';

/**
 * Authorisation rules, one place. A student reads their own certificates; staff read any.
 * Lists of someone else answer 403 (the caller named the student, nothing leaks), while a
 * single certificate of someone else answers 404 so certificate ids cannot be probed.
 */
export function ownsOrStaff(principal: Principal, studentId: string): boolean {
  return principal.isStaff || principal.subject.toLowerCase() === studentId.toLowerCase();
}

export function assertCanReadStudent(principal: Principal, studentId: string): void {
  if (!ownsOrStaff(principal, studentId)) {
    throw new ForbiddenError("Only staff may read another student's certificates");
  }
}

export function assertStaff(principal: Principal, action: string): void {
  if (!principal.isStaff) throw new ForbiddenError(`Only staff may ${action}`);
}
