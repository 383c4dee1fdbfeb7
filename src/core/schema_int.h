/*
 * schema_int.h: how a collection's fields are classified and blind-indexed values normalized
 * (schema.c).
 */
#ifndef CU_SCHEMA_INT_H
#define CU_SCHEMA_INT_H

#include "core_int.h"

/* Normalizers for blind-indexed values: write into out (outcap bytes), NUL-terminated.
 * CU_ERR_INVALID if the value cannot be an email or phone. */
cu_rc cu_norm_email(const char *in, char *out, size_t outcap);
cu_rc cu_norm_phone(const char *in, char *out, size_t outcap);

/* Field classification of one collection (from its declared spec and the built-in rules). */
typedef struct cu_schema cu_schema;
cu_rc cu_schema_load(cu_vault *v, cu_id tenant, const char *collection, cu_schema **out,
                     cu_err *err);
void cu_schema_free(cu_schema *s);
/* The class and indexed flag of a top-level field. */
cu_field_class cu_schema_class(const cu_schema *s, const char *field, int *indexed);
/* 1 if the string holds something that looks like a full payment card number (P-ENC-3). */
int cu_value_is_card_number(const char *s);

/* Builds the COLLECTION_PUT of a collection's field classes (validated). The op's spec is
 * allocated: free it (a const char *) after applying. */
cu_rc cu_collection_op(cu_id tenant, const char *collection, const cu_field_def *fields, size_t n,
                       cu_store_op *op, cu_err *err);

#endif
