/* hw_check: the rules that tie keys together. Each key's own range is the
 * table's job (hw_keys.c); here are the combinations a chip cannot have.
 * Keys a mode does not use (io.window in ANN mode, io.bits in SNN mode, the
 * [pim] keys off PIM) are ignored rather than refused, so one --set can
 * switch a preset's mode in a sweep. */
#include <stdio.h>
#include <string.h>

#include "../nn/nn.h"
#include "hw.h"

/* The value of section.key as text, for messages. */
static const char *val(const Hw *hw, const char *section, const char *key, char *buf, size_t len)
{
    const HwKey *k = hw_key_find(section, key);
    if (!k)
        return "?";
    hw_key_get(hw, k, buf, len);
    return buf;
}

int hw_check(const Hw *hw, const char *origin, char *err, size_t errlen)
{
    char a[64], b[64];
    const char *o = origin ? origin : "", *sep = origin ? ": " : "";
    int snn = hw->target.mode == HW_SNN, pim = hw->target.mode == HW_PIM;

    /* The one activation function follows the mode (DESIGN.md §1.4, §6). */
    if (!snn && hw->neuron.activation != HW_ACT_RELU)
        return errf(err, errlen, "%s%starget.mode = %s needs neuron.activation = relu (got %s)", o,
                    sep, val(hw, "target", "mode", a, sizeof a),
                    val(hw, "neuron", "activation", b, sizeof b));
    if (snn && hw->neuron.activation == HW_ACT_RELU)
        return errf(err, errlen, "%s%starget.mode = snn needs neuron.activation = if or lif (got relu)",
                    o, sep);
    if (snn && hw->io.window < 1)
        return errf(err, errlen,
                    "%s%starget.mode = snn needs io.window, the time steps per inference (an "
                    "integer in 1..4096; got 0)",
                    o, sep);
    if (!snn && hw->io.input_coding != HW_IN_CURRENT)
        return errf(err, errlen,
                    "%s%sio.input_coding = %s needs target.mode = snn (got %s; ANN and PIM "
                    "inputs are values: use current)",
                    o, sep, val(hw, "io", "input_coding", a, sizeof a),
                    val(hw, "target", "mode", b, sizeof b));
    if (hw->neuron.leak > 0 && hw->neuron.activation != HW_ACT_LIF)
        return errf(err, errlen, "%s%sneuron.leak = %s needs neuron.activation = lif (got %s)", o,
                    sep, val(hw, "neuron", "leak", a, sizeof a),
                    val(hw, "neuron", "activation", b, sizeof b));

    /* The weight encoding must be able to hold a bits-bit weight. */
    const int bits = hw->weights.bits, cells = hw->weights.cells, cell_bits = hw->weights.cell_bits;
    if (hw->weights.encoding == HW_ENC_CELLS && (cells < 1 || cell_bits < 1))
        return errf(err, errlen,
                    "%s%sweights.encoding = cells needs weights.cells and weights.cell_bits "
                    "(each an integer in 1..16; got %d and %d)",
                    o, sep, cells, cell_bits);
    if (hw->weights.encoding == HW_ENC_CELLS && cells * cell_bits < bits)
        return errf(err, errlen,
                    "%s%sweights.encoding = cells needs weights.cells * weights.cell_bits >= "
                    "weights.bits (%d * %d = %d < %d)",
                    o, sep, cells, cell_bits, cells * cell_bits, bits);
    if (hw->weights.encoding == HW_ENC_AXON_TYPES && hw->weights.axon_types < 1)
        return errf(err, errlen,
                    "%s%sweights.encoding = axon_types needs weights.axon_types, the distinct "
                    "weights per neuron (an integer in 1..256; got 0)",
                    o, sep);

    /* A ReRAM crossbar stores cells and is fed through DACs. */
    if (pim && hw->weights.encoding != HW_ENC_CELLS)
        return errf(err, errlen,
                    "%s%starget.mode = pim needs weights.encoding = cells (got %s: a ReRAM "
                    "crossbar stores weights in cells)",
                    o, sep, val(hw, "weights", "encoding", a, sizeof a));
    if (pim && (hw->pim.dac_bits < 1 || hw->pim.dac_bits > hw->io.bits))
        return errf(err, errlen,
                    "%s%starget.mode = pim needs pim.dac_bits in 1..io.bits (1..%d; got %d)", o,
                    sep, hw->io.bits, hw->pim.dac_bits);

    /* Every core has a place on the mesh. */
    long long mesh = (long long)hw->chip.mesh_x * hw->chip.mesh_y;
    if (mesh < hw->chip.cores)
        return errf(err, errlen,
                    "%s%schip.mesh_x * chip.mesh_y must hold chip.cores (%d * %d = %lld < %d)", o,
                    sep, hw->chip.mesh_x, hw->chip.mesh_y, mesh, hw->chip.cores);
    return 0;
}
