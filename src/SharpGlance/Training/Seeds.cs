namespace SharpGlance.Training;

/// <summary>
/// Seeds that depend on their inputs alone, so that a seed means the same run in every process
/// (<see cref="HashCode"/> is randomised per process).
/// </summary>
public static class Seeds
{
    /// <summary>A deterministic 31-bit seed from (run seed, example, epoch), e.g. for <c>new Random(seed)</c>.</summary>
    public static int Mix(long seed, int index, int epoch)
    {
        ulong z = (ulong)seed * 0x9E3779B97F4A7C15UL ^ (ulong)index * 0xBF58476D1CE4E5B9UL ^ (ulong)epoch * 0x94D049BB133111EBUL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return (int)((z ^ (z >> 31)) & 0x7FFFFFFF);
    }
}
