import type { StandInClient, StandInUser } from './keycloak.ts';

/** Realm, clients and users of the local stand-in; the seed script inserts matching attempts. */
export const DEMO_REALM = 'student';
export const SERVICE_CLIENT: StandInClient = {
  clientId: 'certificate-service',
  secret: 'local-only-service-secret',
  serviceAccountRoles: ['view-users'],
};
export const FRONTEND_CLIENT_ID = 'certificates-frontend';

export const DEMO_STUDENTS: StandInUser[] = [
  {
    id: '5b0c2f4e-8a61-4c1e-9d3a-7f2b6c1d0a01',
    username: 'ada',
    firstName: 'Ada',
    lastName: 'Lovelace',
    email: 'ada@example.org',
    password: 'ada',
    attributes: { locale: ['en'] },
  },
  {
    id: '5b0c2f4e-8a61-4c1e-9d3a-7f2b6c1d0a02',
    username: 'jose',
    firstName: 'José',
    lastName: 'Ñúñez-Ørsted',
    email: 'jose@example.org',
    password: 'jose',
    attributes: { locale: ['es'] },
  },
  {
    id: '5b0c2f4e-8a61-4c1e-9d3a-7f2b6c1d0a03',
    username: 'svetlana',
    firstName: 'Светлана',
    lastName: 'Иванова',
    email: 'svetlana@example.org',
    password: 'svetlana',
    attributes: { locale: ['ru'] },
  },
  {
    id: '5b0c2f4e-8a61-4c1e-9d3a-7f2b6c1d0a04',
    username: 'mei',
    firstName: '美',
    lastName: '王',
    email: 'mei@example.org',
    password: 'mei',
    attributes: { locale: ['zh'] },
  },
  {
    id: '5b0c2f4e-8a61-4c1e-9d3a-7f2b6c1d0a05',
    username: 'layla',
    firstName: 'ليلى',
    lastName: 'حداد',
    email: 'layla@example.org',
    password: 'layla',
    attributes: { locale: ['ar'] },
  },
];

export const DEMO_STAFF: StandInUser = {
  id: '5b0c2f4e-8a61-4c1e-9d3a-7f2b6c1d0aff',
  username: 'teacher',
  firstName: 'Grace',
  lastName: 'Hopper',
  email: 'teacher@example.org',
  password: 'teacher',
  realmRoles: ['certificate-admin'],
};
