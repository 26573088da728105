using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Language;

/// <summary>
/// What <see cref="TextGenerator"/> needs of a decoder-only language model (OPT, Llama): its embeddings, a
/// KV cache shaped for its attention, and one forward pass over <see cref="OptInputs"/> (the decoder LMs'
/// shared input record: ids or embeddings, a left-padded mask over cached + new tokens, the cache).
/// </summary>
public interface ICausalLM
{
    int VocabSize { get; }
    /// <summary>Width of <see cref="OptInputs.InputsEmbeds"/> (OPT's word_embed_proj_dim, Llama's hidden_size).</summary>
    int EmbeddingDim { get; }
    ScalarType DType { get; }
    Device Device { get; }
    /// <summary>nn.Module's mode flag, and its switches (generation runs in eval mode and restores the mode).</summary>
    bool training { get; }
    void eval();
    void train(bool on = true);
    /// <summary>The token embeddings [.., EmbeddingDim] of <paramref name="inputIds"/>.</summary>
    Tensor Embed(Tensor inputIds);
    /// <summary>A cache with room for <paramref name="maxLength"/> tokens per row, in the model's dtype and device.</summary>
    KvCache NewCache(long batch, long maxLength);
    OptOutput forward(OptInputs input);
}
