namespace SharpGlance.Training;

/// <summary>
/// The learning-rate schedule of the paper's scripts (HF <c>get_cosine_schedule_with_warmup</c>, SPEC §10):
/// linear warm-up from 0 over the first <c>warmupRatio</c> of the steps, then a half cosine down to 0.
/// A pure function of the step, like nanoGPT's <c>get_lr</c>, so a resumed run needs no scheduler state.
/// </summary>
public static class LearningRate
{
    public static long WarmupSteps(long totalSteps, double warmupRatio) => (long)Math.Ceiling(totalSteps * warmupRatio);

    /// <param name="step">0-based index of the optimizer step about to be taken.</param>
    public static double Cosine(long step, long totalSteps, double peak, double warmupRatio = 0.03)
    {
        if (totalSteps <= 0) return peak;
        long warmup = WarmupSteps(totalSteps, warmupRatio);
        if (step < warmup) return peak * step / Math.Max(1, warmup);
        double progress = (double)(step - warmup) / Math.Max(1, totalSteps - warmup);
        return peak * Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * progress)));
    }
}
