namespace SharpGlance.Data.Pseudo;

/// <summary>
/// The built-in English lexicon, in the same JSON shape as a dataset's <c>lexicon.json</c> (plus the keys
/// only the built-in one needs: materials, actions, verbs, synonyms). Entities are the 80 COCO categories
/// under their COCO supercategory (COCO's names kept: "skis" is the plural of "ski", "sports ball",
/// "hair drier"), with the words COCO captions use for them (bike, sofa, tv, ...), plus classes COCO
/// captions talk about that are not detection categories (athletes, clothing, plants, places).
/// Synonym groups keep a swap from being no error at all: bike → bicycle, dog → puppy, large → big,
/// person → man (a hypernym). Words in several classes swap with the union of those classes.
/// </summary>
internal static class BuiltInLexicon
{
    public const string Json = """
    {
      "entities": {
        "person": ["person", "man", "woman", "boy", "girl", "child", "kid", "baby", "lady", "guy", "gentleman", "teenager", "toddler"],
        "athlete": ["skier", "surfer", "skateboarder", "snowboarder", "tennis player", "baseball player", "soccer player", "batter"],
        "vehicle": ["bicycle", "bike", "car", "motorcycle", "motorbike", "scooter", "airplane", "plane", "aeroplane", "jet", "airliner",
                    "bus", "train", "truck", "boat", "ship", "van", "taxi", "cab", "tractor", "trolley", "tram"],
        "outdoor": ["traffic light", "fire hydrant", "hydrant", "stop sign", "parking meter", "bench", "street sign", "street light", "fence"],
        "animal": ["bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe",
                   "puppy", "kitten", "pony", "duck", "pigeon", "seagull", "goose", "lamb", "bull", "goat", "deer", "squirrel", "monkey"],
        "accessory": ["backpack", "umbrella", "handbag", "tie", "suitcase", "bag", "purse"],
        "clothing": ["tie", "hat", "cap", "helmet", "shirt", "t-shirt", "jacket", "coat", "dress", "scarf", "sweater", "suit", "uniform", "vest"],
        "sports": ["frisbee", "ski", "snowboard", "sports ball", "ball", "kite", "baseball bat", "bat", "baseball glove", "glove", "mitt",
                   "skateboard", "surfboard", "tennis racket", "tennis racquet", "racket", "racquet", "tennis ball", "soccer ball"],
        "kitchen": ["bottle", "wine glass", "glass", "cup", "mug", "fork", "knife", "spoon", "bowl", "plate", "pan", "pot", "jar", "tray"],
        "food": ["banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "doughnut", "cake",
                 "burger", "hamburger", "cookie", "muffin", "bagel", "tomato", "egg"],
        "furniture": ["chair", "couch", "sofa", "potted plant", "plant", "bed", "dining table", "table", "desk", "toilet", "shelf", "cabinet"],
        "electronic": ["tv", "television", "laptop", "computer", "mouse", "remote", "remote control", "keyboard", "cell phone", "cellphone",
                       "phone", "smartphone", "monitor", "screen", "camera"],
        "appliance": ["microwave", "oven", "toaster", "sink", "refrigerator", "fridge", "stove", "dishwasher"],
        "indoor": ["book", "clock", "vase", "scissors", "teddy bear", "hair drier", "hair dryer", "toothbrush", "pillow", "lamp", "candle"],
        "plant": ["tree", "flower", "bush", "plant", "potted plant"],
        "place": ["room", "kitchen", "bathroom", "bedroom", "living room", "street", "road", "field", "beach", "park", "city", "yard",
                  "parking lot", "sidewalk", "forest", "lake", "river", "ocean", "airport"]
      },
      "plurals": {
        "man": "men", "woman": "women", "person": "people", "child": "children", "gentleman": "gentlemen",
        "mouse": "mice", "goose": "geese", "foot": "feet", "tooth": "teeth", "ox": "oxen",
        "sheep": "sheep", "deer": "deer", "fish": "fish", "bison": "bison", "broccoli": "broccoli", "scissors": "scissors",
        "knife": "knives", "leaf": "leaves", "shelf": "shelves", "wolf": "wolves", "scarf": "scarves", "calf": "calves", "loaf": "loaves",
        "tomato": "tomatoes", "potato": "potatoes", "hero": "heroes", "cactus": "cacti"
      },
      "colours": [["red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "gray", "grey", "silver", "gold", "beige", "violet"]],
      "sizes": [["small", "little", "tiny", "large", "big", "huge", "giant", "enormous"], ["tall", "short"], ["long", "short"], ["wide", "narrow"], ["thick", "thin"]],
      "materials": [["wooden", "metal", "metallic", "steel", "iron", "plastic", "glass", "stone", "brick", "leather", "wicker", "paper",
                     "ceramic", "porcelain", "concrete", "cardboard", "marble", "wool", "woolen", "cotton", "rubber"]],
      "relations": [["on", "under"], ["on top of", "underneath"], ["on top of", "under"], ["above", "below"], ["above", "beneath"],
                    ["over", "under"], ["left", "right"], ["in front of", "behind"], ["inside", "outside"], ["inside of", "outside of"],
                    ["into", "out of"], ["near", "far from"], ["next to", "across from"], ["beside", "across from"],
                    ["towards", "away from"], ["toward", "away from"], ["up", "down"], ["top", "bottom"], ["front", "back"],
                    ["upstairs", "downstairs"]],
      "actions": {
        "posture": ["sit", "stand", "lie", "lay", "kneel", "lean", "crouch", "perch"],
        "move": ["walk", "run", "jump", "swim", "fly", "climb", "cross", "race"],
        "handle": ["hold", "carry", "eat", "drink", "throw", "catch", "grab", "push", "pull", "hug", "wear", "cut", "wash", "feed", "pet"],
        "look": ["look", "stare", "point", "gaze", "smile", "wave"],
        "play": ["play", "hit", "kick", "swing", "throw", "catch"],
        "ride": ["ride", "drive", "push", "pull"],
        "sport": ["surf", "ski", "skate", "snowboard", "skateboard"],
        "rest": ["sleep", "rest", "nap", "sit", "lie"],
        "consume": ["eat", "drink", "graze", "chew", "lick", "bite", "sniff"]
      },
      "verbs": ["have", "do", "go", "wait", "appear", "seem", "contain", "show", "feature", "hang", "cover", "fill", "face", "pose",
                "watch", "use", "work", "prepare", "make", "take", "try", "get", "travel", "move", "head", "lead", "follow", "chase",
                "approach", "enjoy", "share", "display", "float", "stop", "stay", "remain", "need", "want", "like", "love", "come",
                "grow", "read", "sing", "dance", "talk", "laugh", "cook", "open", "check", "reach", "place", "put", "see", "watch"],
      "synonyms": [
        ["person", "man"], ["person", "woman"], ["person", "boy"], ["person", "girl"], ["person", "child"], ["person", "kid"],
        ["person", "baby"], ["person", "lady"], ["person", "guy"], ["person", "gentleman"], ["person", "teenager"], ["person", "toddler"],
        ["man", "guy", "gentleman"], ["woman", "lady"], ["child", "kid"], ["child", "boy"], ["child", "girl"], ["kid", "boy"], ["kid", "girl"],
        ["child", "toddler", "baby"], ["kid", "toddler"], ["boy", "teenager"], ["girl", "teenager"],
        ["bicycle", "bike"], ["motorcycle", "motorbike", "bike"], ["airplane", "plane", "aeroplane", "jet", "airliner"],
        ["boat", "ship"], ["taxi", "cab", "car"], ["trolley", "tram"],
        ["fire hydrant", "hydrant"], ["stop sign", "street sign"],
        ["dog", "puppy"], ["cat", "kitten"], ["horse", "pony"], ["sheep", "lamb"], ["cow", "bull"],
        ["bird", "duck"], ["bird", "pigeon"], ["bird", "seagull"], ["bird", "goose"], ["duck", "goose"],
        ["bag", "handbag", "purse"], ["bag", "backpack"], ["bag", "suitcase"],
        ["hat", "cap"], ["jacket", "coat"], ["shirt", "t-shirt"], ["hat", "helmet"], ["cap", "helmet"],
        ["ball", "sports ball", "tennis ball", "soccer ball"], ["bat", "baseball bat"], ["glove", "baseball glove", "mitt"],
        ["tennis racket", "tennis racquet", "racket", "racquet"],
        ["glass", "wine glass"], ["cup", "mug"], ["pot", "pan"],
        ["donut", "doughnut"], ["burger", "hamburger"], ["cake", "muffin"], ["bagel", "donut"], ["bagel", "doughnut"],
        ["couch", "sofa"], ["plant", "potted plant"], ["table", "dining table"], ["table", "desk"],
        ["tv", "television", "screen"], ["monitor", "screen"], ["laptop", "computer"], ["computer", "monitor"],
        ["cell phone", "cellphone", "phone", "smartphone"], ["remote", "remote control"],
        ["refrigerator", "fridge"], ["oven", "stove"], ["hair drier", "hair dryer"],
        ["plant", "tree"], ["plant", "flower"], ["plant", "bush"], ["tree", "bush"],
        ["street", "road"], ["room", "kitchen"], ["room", "bathroom"], ["room", "bedroom"], ["room", "living room"],
        ["field", "park"], ["field", "yard"], ["street", "sidewalk"], ["lake", "river"], ["lake", "ocean"], ["river", "ocean"],
        ["gray", "grey"], ["gray", "silver"], ["grey", "silver"], ["purple", "violet"], ["yellow", "gold"], ["brown", "beige"],
        ["small", "little", "tiny"], ["large", "big", "huge", "giant", "enormous"],
        ["metal", "metallic", "steel", "iron"], ["wool", "woolen"], ["ceramic", "porcelain"], ["stone", "marble"], ["stone", "concrete"],
        ["paper", "cardboard"],
        ["lie", "lay"], ["hold", "carry"], ["hold", "grab"], ["look", "stare", "gaze"], ["skate", "skateboard"],
        ["sleep", "rest", "nap"], ["eat", "graze"], ["eat", "chew"], ["eat", "bite"],
        ["on top of", "on"], ["under", "underneath", "beneath", "below"], ["above", "over"], ["next to", "beside"], ["toward", "towards"]
      ]
    }
    """;
}
