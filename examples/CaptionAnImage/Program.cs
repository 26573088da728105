// Captions an image with the default model, first and second glance:
//   dotnet run -c Release --project examples/CaptionAnImage -- [IMAGE] [MODEL_DIR]
using SharpGlance.Captioning;
using SharpGlance.Preprocessing;

string image = args.Length > 0 ? args[0] : Path.Combine(AppContext.BaseDirectory, "scene1.png");
string model = args.Length > 1 ? args[1] : Path.Combine(AppContext.BaseDirectory, "models", "default");

using var captioner = Captioner.Load(model, new CaptionerLoadOptions { TrimVision = true });
var result = CaptionPipeline.CaptionImages(captioner, [RgbImage.FromFile(image)], new CaptionRunOptions { Rounds = 1 })[0];
Console.WriteLine($"first glance:  {result.Initial}");
Console.WriteLine($"second glance: {result.Caption}");
