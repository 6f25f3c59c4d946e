/* The verifier's messages: one line per violation, naming the op, the
 * value found and the hardware key it breaks. */
#include <stdarg.h>
#include <stdio.h>

#include "verify.h"

const char *verify_kind_name(ViolationKind k)
{
    static const char *const names[V_COUNT] = {
        [V_ROWS] = "rows",           [V_COLS] = "cols",           [V_WEIGHT_RANGE] = "weight_range",
        [V_BIAS_RANGE] = "bias_range", [V_SHIFT] = "shift",       [V_ACTIVATION] = "activation",
        [V_FANOUT] = "fanout",       [V_IO_BITS] = "io_bits",     [V_STRUCTURE] = "structure",
        [V_FLOAT] = "float",         [V_AXON_TYPES] = "axon_types",
    };
    return (int)k >= 0 && k < V_COUNT ? names[k] : "?";
}

/* snprintf onto the end of what is written so far; *used counts what would
 * have been written, so the caller returns it like snprintf. */
__attribute__((format(printf, 4, 5))) static void add(char *buf, size_t len, size_t *used,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(*used < len ? buf + *used : NULL, *used < len ? len - *used : 0, fmt, ap);
    va_end(ap);
    *used += n > 0 ? (size_t)n : 0;
}

static void structure(const Violation *v, char *buf, size_t len, size_t *u)
{
    switch (v->rule) {
    case VS_BLOCK_SHAPE:
        add(buf, len, u, "%lld rows x %lld cols (each must be >= 1)", v->value, v->limit);
        break;
    case VS_BLOCK_DATA:
        add(buf, len, u, "no weight or bias array");
        break;
    case VS_BLOCK_INDEX:
        add(buf, len, u, "no such block (the program has %lld)", v->limit);
        break;
    case VS_OUT:
        add(buf, len, u, "first neuron %lld, expected %lld (each op's neurons follow the last op's)",
            v->value, v->limit);
        break;
    case VS_GROUP:
        add(buf, len, u, "group %lld outside 0..%lld", v->value, v->limit - 1);
        break;
    case VS_READ:
        if (v->row < 0)
            add(buf, len, u, "no input list");
        else if (v->value < 0)
            add(buf, len, u, "row %d reads neuron %lld, neither a neuron nor PROGRAM_ZERO", v->row,
                v->value);
        else
            add(buf, len, u,
                "row %d reads neuron %lld, not below its own first neuron %lld (ops read only "
                "earlier neurons)",
                v->row, v->value, v->limit);
        break;
    case VS_NEURONS:
        add(buf, len, u, "n_neurons %lld, but the inputs and core ops make %lld", v->value, v->limit);
        break;
    case VS_NO_OUTPUTS:
        add(buf, len, u, "no outputs (logits)");
        break;
    case VS_OUTPUT:
        add(buf, len, u, "output %d is neuron %lld, no core op's neuron (%lld neurons)", v->row, v->value,
            v->limit);
        break;
    case VS_OUTPUT_ACT:
        add(buf, len, u, "output %d is neuron %lld of this op, which is not linear (logits are)",
            v->row, v->value);
        break;
    default:
        add(buf, len, u, "structural rule %d broken", v->rule);
    }
}

int verify_describe(const VerifyReport *rep, int i, char *buf, size_t len)
{
    if (len)
        buf[0] = 0;
    if (!rep || i < 0 || i >= rep->n)
        return 0;
    const Violation *v = &rep->v[i];
    size_t u = 0;
    /* Where: a core op, a pixel (fan-out), a block, or the program. */
    if (v->kind == V_FANOUT && v->op < 0)
        add(buf, len, &u, "neuron %d (input pixel): ", v->col);
    else if (v->kind == V_FANOUT)
        add(buf, len, &u, "neuron %d (core op %d, block %d): ", v->col, v->op, v->block);
    else if (v->op >= 0)
        add(buf, len, &u, "core op %d (block %d): ", v->op, v->block);
    else if (v->block >= 0)
        add(buf, len, &u, "block %d: ", v->block);
    else
        add(buf, len, &u, "program: ");

    switch (v->kind) {
    case V_ROWS:
        add(buf, len, &u, "%lld rows > crossbar.rows %lld", v->value, v->limit);
        break;
    case V_COLS:
        add(buf, len, &u, "%lld cols > crossbar.cols %lld", v->value, v->limit);
        break;
    case V_WEIGHT_RANGE:
        add(buf, len, &u, "weight %lld at row %d, col %d %s %lld, the weights.bits range's %s",
            v->value, v->row, v->col, v->value > v->limit ? ">" : "<", v->limit,
            v->value > v->limit ? "top" : "bottom");
        break;
    case V_BIAS_RANGE:
        add(buf, len, &u, "bias %lld of neuron %d %s %lld, the accumulator's %s (see verify.h)",
            v->value, v->col, v->value > v->limit ? ">" : "<", v->limit,
            v->value > v->limit ? "top" : "bottom");
        break;
    case V_SHIFT:
        if (v->value < 0)
            add(buf, len, &u, "shift %lld < 0", v->value);
        else
            add(buf, len, &u, "shift %lld > neuron.shift_max %lld", v->value, v->limit);
        break;
    case V_ACTIVATION:
        if (v->col < 0)
            add(buf, len, &u, "activation %lld is neither relu nor linear", v->value);
        else
            add(buf, len, &u,
                "linear (no ReLU), but its neuron %d feeds core op %d; only output ops may skip "
                "the chip's ReLU",
                v->col, v->row);
        break;
    case V_FANOUT:
        add(buf, len, &u, "read by %lld core ops > crossbar.fanout %lld", v->value, v->limit);
        break;
    case V_IO_BITS:
        add(buf, len, &u, "io_bits %lld != io.bits %lld", v->value, v->limit);
        break;
    case V_STRUCTURE:
        structure(v, buf, len, &u);
        break;
    case V_AXON_TYPES:
        if (v->col < 0)
            add(buf, len, &u, "row %d has axon type %lld, outside 0..%lld (weights.axon_types)",
                v->row, v->value, v->limit - 1);
        else
            add(buf, len, &u,
                "weight %lld at row %d, col %d, but %lld on an earlier row of the same axon type "
                "(weights.encoding = axon_types: one weight per neuron and type)",
                v->value, v->row, v->col, v->limit);
        break;
    case V_FLOAT:
        add(buf, len, &u, "float weights (the reform strategy's); a chip runs integer programs");
        break;
    default:
        add(buf, len, &u, "violation of unknown kind %d", (int)v->kind);
    }
    return (int)u;
}
