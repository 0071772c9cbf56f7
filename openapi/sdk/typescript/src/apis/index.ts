/* tslint:disable */
/* eslint-disable */
export * from './AuthApi';
export * from './BroadcastsApi';
export * from './FleetApi';
export * from './HoldsApi';
export * from './MeApi';
export * from './PresenceApi';
export * from './TripsApi';
