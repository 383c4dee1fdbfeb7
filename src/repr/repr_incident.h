/*
 * repr_incident.h: the JSON views of breach incidents (P-BRE-1, docs/incidents.md), for the
 * API and the CLI alike: ids, times, counts and hashes, never a personal value.
 */
#ifndef CU_REPR_INCIDENT_H
#define CU_REPR_INCIDENT_H

#include "custos_incident.h"

struct cJSON;

/* A line of a listing: id, tenant, when opened and known, the affected counts. */
struct cJSON *cu_repr_incident_summary_json(const cu_store_incident *inc);
/* The incident at now: scope, window, evidence (its hash, whether the set still matches),
 * deadlines with their states, notices, and the timeline; with report, also the affected set
 * itself (tenant and subject ids with their counts) and when the report was made. */
struct cJSON *cu_repr_incident_json(const cu_incident *i, int64_t now, int report);

#endif
