#ifndef CRDKAFKA_SHIM_H
#define CRDKAFKA_SHIM_H

#include <stdio.h>
#include <stdlib.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/// Non-variadic entry point for `rd_kafka_producev`, which Swift cannot call.
/// `headers` ownership passes to librdkafka on success only (RD_KAFKA_RESP_ERR_NO_ERROR);
/// on failure the caller still owns and must destroy them.
static inline rd_kafka_resp_err_t crdkafka_produce(rd_kafka_t *rk,
                                                   const char *topic,
                                                   const void *key, size_t key_len,
                                                   const void *value, size_t value_len,
                                                   rd_kafka_headers_t *headers,
                                                   void *opaque) {
    return rd_kafka_producev(rk,
                             RD_KAFKA_V_TOPIC(topic),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_KEY(key, key_len),
                             RD_KAFKA_V_VALUE((void *)value, value_len),
                             RD_KAFKA_V_HEADERS(headers),
                             RD_KAFKA_V_OPAQUE(opaque),
                             RD_KAFKA_V_END);
}

/// librdkafka's own table of configuration properties (`rd_kafka_conf_properties_show`), with
/// the scope of each (C consumer, P producer, * both), as one string. The caller frees it.
static inline char *crdkafka_properties_table(void) {
    char *buffer = NULL;
    size_t size = 0;
    FILE *stream = open_memstream(&buffer, &size);
    if (stream == NULL) return NULL;
    rd_kafka_conf_properties_show(stream);
    fclose(stream);
    return buffer;
}

#endif
