using System.Text;
using PcieVirt.Platform;
using PcieVirt.Platform.Model;

namespace PcieVirt.FuzzTargets;

/// <summary>
/// The input bytes as a JSON platform model: <see cref="PlatformModel.Parse"/> must report problems as errors, and
/// <see cref="PcieSystem.Build"/> of a valid model may fail only with <see cref="PlatformBuildException"/>.
/// </summary>
public sealed class ModelTarget : IFuzzTarget
{
    /// <inheritdoc/>
    public void Run(ReadOnlySpan<byte> input)
    {
        // Invalid UTF-8 becomes U+FFFD, as a file read by a text editor would.
        string json = Encoding.UTF8.GetString(input);
        PlatformModelResult result;
        try
        {
            result = PlatformModel.Parse(json, "fuzz.json");
        }
        catch (Exception e)
        {
            throw new HarnessException($"PlatformModel.Parse threw {e.GetType().Name}: {e.Message}", e);
        }
        if (result.Model is not { } model)
        {
            if (result.Errors.Count == 0) throw new HarnessException("Parse returned neither a model nor an error");
            return;
        }
        try
        {
            PcieSystem.Build(model);
        }
        catch (PlatformBuildException)
        {
            // Documented: an unsupported combination the validator let through.
        }
        catch (Exception e)
        {
            throw new HarnessException($"PcieSystem.Build threw {e.GetType().Name}: {e.Message}", e);
        }
    }
}
