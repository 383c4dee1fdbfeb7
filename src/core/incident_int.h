/*
 * incident_int.h: what incident.c (opening, the affected set) and incident_notice.c (reads,
 * deadlines, notices, revocation, events) share (P-BRE-1, docs/incidents.md).
 */
#ifndef CU_INCIDENT_INT_H
#define CU_INCIDENT_INT_H

#include "core_int.h"
#include "custos_incident.h"

/* SHA-256 of an incident and its affected set: "cu-incident2"; the header (id, tenant,
 * opened_at, known_at, the window, the scope key and tenant, the three deadlines' hours, the
 * counts of tenants and subjects, then principal, source and collection, each as its length
 * and bytes); the count of members and each member (tenant, subject, reads, writes, first_ms,
 * last_ms), numbers as 8 bytes little-endian, members in the order of the set (by tenant,
 * then subject). What changes later (notices, revoked_at) has audit entries of its own. */
cu_rc cu_incident_evidence(const cu_store_incident *inc, const cu_store_incident_hit *hits,
                           size_t n, uint8_t out[32], cu_err *err);
/* The tenants told of the incident's events: its own (if not 0) and each tenant of its
 * affected set, once each, into a new array (caller frees *out). */
cu_rc cu_incident_targets(const cu_incident *i, cu_id **out, size_t *n, cu_err *err);

#endif
