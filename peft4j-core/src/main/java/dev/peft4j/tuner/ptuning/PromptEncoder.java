/*
 * PromptEncoder: P-tuning's reparameterisation of the virtual tokens (PEFT 0.14's
 * tuners/p_tuning/model.py PromptEncoder, training mode). An embedding table (P, D) — D = token_dim,
 * torch.nn.Embedding's N(0, 1) init — is run through
 *   MLP:   Linear(D, H) -> ReLU -> Linear(H, H) -> ReLU -> Linear(H, D)        (always these three:
 *          PEFT ignores encoder_num_layers for MLP and warns when it is not the default 2)
 *   LSTM:  bidirectional LSTM(D, H, encoder_num_layers, dropout = encoder_dropout) (T = P, batch 1)
 *          -> Linear(2H, 2H) -> ReLU -> Linear(2H, D)
 * with H = encoder_hidden_size. Linear layers have PyTorch's default init: weight kaiming_uniform(a =
 * sqrt 5) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)), bias the same bound. The output (P, D) is the
 * virtual token embeddings; it does not depend on the batch (PEFT computes it for one row and
 * repeats it), so forward() runs once per model forward.
 *
 * Parameter names follow PEFT's named_parameters of the encoder, prefixed with the adapter name:
 * <adapter>.embedding.weight, <adapter>.lstm_head.weight_ih_l0 ..., <adapter>.mlp_head.{0,2,4}.weight/bias.
 */
package dev.peft4j.tuner.ptuning;

import dev.peft4j.autograd.Ops;
import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.tuner.lora.Lora;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;

public final class PromptEncoder {
    private final PTuningConfig.EncoderType type;
    private final Tensor embedding;
    private final Lstm lstm;                  // LSTM only
    private final List<Tensor> head;          // weight, bias pairs of the Linear layers, in order
    private final int P;

    /**
     * A fresh encoder for P virtual tokens of width D, hidden size H, drawn from seed: the table
     * first, then the LSTM (if any) and the Linear layers in named_parameters order.
     */
    public PromptEncoder(String adapterName, PTuningConfig.EncoderType type, int P, int D, int H, int lstmLayers, float lstmDropout, long seed) {
        if (P < 1 || D < 1 || H < 1)
            throw new IllegalArgumentException("prompt encoder sizes must be >= 1 (P " + P + ", token_dim " + D + ", hidden " + H + ")");
        SplittableRandom rnd = new SplittableRandom(seed);
        this.type = type;
        this.P = P;
        float[] table = new float[P * D];
        Lora.normal(table, 1.0, rnd);
        this.embedding = Tensor.param(adapterName + ".embedding.weight", table, P, D);
        List<Tensor> h = new ArrayList<>();
        if (type == PTuningConfig.EncoderType.LSTM) {
            this.lstm = new Lstm(adapterName + ".lstm_head.", D, H, lstmLayers, lstmDropout, rnd);
            linear(h, adapterName + ".mlp_head.0.", 2 * H, 2 * H, rnd);
            linear(h, adapterName + ".mlp_head.2.", 2 * H, D, rnd);
        } else {
            this.lstm = null;
            linear(h, adapterName + ".mlp_head.0.", D, H, rnd);
            linear(h, adapterName + ".mlp_head.2.", H, H, rnd);
            linear(h, adapterName + ".mlp_head.4.", H, D, rnd);
        }
        this.head = Collections.unmodifiableList(h);
    }

    private static void linear(List<Tensor> out, String prefix, int in, int outF, SplittableRandom rnd) {
        double bound = 1.0 / Math.sqrt(in);
        float[] w = new float[outF * in], b = new float[outF];
        Lora.uniform(w, bound, rnd);
        Lora.uniform(b, bound, rnd);
        out.add(Tensor.param(prefix + "weight", w, outF, in));
        out.add(Tensor.param(prefix + "bias", b, outF));
    }

    public PTuningConfig.EncoderType type() { return type; }

    /** The embedding table (P, D) the encoder reads. */
    public Tensor embedding() { return embedding; }

    /** The LSTM, or null for MLP. */
    public Lstm lstm() { return lstm; }

    /** The Linear layers' weight, bias pairs in order (weights (out, in) as torch's nn.Linear). */
    public List<Tensor> head() { return head; }

    /** Every trainable tensor in PEFT's named_parameters order: embedding, lstm_head, mlp_head. */
    public List<Tensor> parameters() {
        List<Tensor> out = new ArrayList<>();
        out.add(embedding);
        if (lstm != null) out.addAll(lstm.parameters());
        out.addAll(head);
        return out;
    }

    public long parameterCount() {
        long n = 0;
        for (Tensor t : parameters()) n += t.size();
        return n;
    }

    /** The virtual token embeddings (P, D), recorded on tape when it is not null (training: LSTM dropout on). */
    public Tensor forward(Tape tape) {
        int[] ids = new int[P];
        for (int i = 0; i < P; i++) ids[i] = i;
        Tensor x = Ops.embedding(tape, embedding, ids);
        if (lstm != null) x = lstm.forward(tape, x);
        int layers = head.size() / 2;
        for (int l = 0; l < layers; l++) {
            x = Ops.linear(tape, x, head.get(2 * l), head.get(2 * l + 1));
            if (l < layers - 1) x = relu(tape, x);
        }
        return x;
    }

    /** max(x, 0) elementwise; backward passes dy where x > 0. */
    static Tensor relu(Tape tape, Tensor x) {
        float[] src = x.data, y = new float[src.length];
        for (int i = 0; i < y.length; i++) y[i] = src[i] > 0f ? src[i] : 0f;
        Tensor t = Tensor.activation(y, Tape.needed(tape, x), x.shape);
        Tensor.GradRef gx = x.gradRef(), gt = t.gradRef();
        if (t.requiresGrad) tape.record(() -> {
            float[] dy = gt.gradOrNull();
            if (dy == null) return;
            float[] dx = gx.grad();
            for (int i = 0; i < y.length; i++) if (y[i] > 0f) dx[i] += dy[i];
        });
        return t;
    }
}
