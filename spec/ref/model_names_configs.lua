-- The configurations whose state-dict names spec/ref/model_names.lua pins (see
-- gen_model_names.lua); each key names the published model it stands for.
return {
  { key = "unet", model = "unet", opts = { in_channels = 1, num_classes = 2, base = 4 } },
  { key = "unet_batch_bilinear", model = "unet",
    opts = { in_channels = 3, num_classes = 2, base = 4, norm = "batch", up = "bilinear", dropout = 0.5 } },
  { key = "tiramisu56", model = "tiramisu", opts = { variant = 56, num_classes = 11, growth = 2, first_conv = 4 } },
  { key = "tiramisu67", model = "tiramisu", opts = { variant = 67, num_classes = 11, growth = 2, first_conv = 4 } },
  { key = "tiramisu103", model = "tiramisu", opts = { variant = 103, num_classes = 11, growth = 2, first_conv = 4 } },
  { key = "hrnet", model = "hrnet", opts = { width = 2, num_classes = 19 } },
  { key = "hrnet_small_v1", model = "hrnet", opts = { width = 2, small = "v1", num_classes = 19 } },
  { key = "hrnet_small_v2", model = "hrnet", opts = { width = 2, small = "v2", num_classes = 19 } },
  { key = "deeplabv3plus_resnet18", model = "deeplabv3plus",
    opts = { num_classes = 21, encoder_width = 2, aspp_channels = 4, low_level_channels = 2, decoder_channels = 4 } },
  { key = "deeplabv3plus_resnet50", model = "deeplabv3plus",
    opts = { num_classes = 21, backbone = "resnet50", encoder_width = 2, aspp_channels = 4,
             low_level_channels = 2, decoder_channels = 4 } },
}
