/*
 * incident_int.h: what incident.c (opening, the affected set) and incident_notice.c (reads,
 * deadlines, notices, revocation, events) share (P-BRE-1, docs/incidents.md).
 */
#ifndef CU_INCIDENT_INT_H
#define CU_INCIDENT_INT_H

#include "core_int.h"
#include "custos_incident.h"

/* SHA-256 of an incident's affected set: "cu-incident1", the incident id, then each member
 * (tenant, subject, reads, writes, first_ms, last_ms) as 8 bytes little-endian, in the order
 * of the set (by tenant, then subject). */
void cu_incident_evidence(cu_id id, const cu_store_incident_hit *hits, size_t n, uint8_t out[32]);
/* The tenants told of the incident's events: its own (if not 0) and each tenant of its
 * affected set, once each, into a new array (caller frees *out). */
cu_rc cu_incident_targets(const cu_incident *i, cu_id **out, size_t *n, cu_err *err);

#endif
